"""Workflows: chains of processes run on a workspace, each step a normal process execution.

A workflow is not a process: it runs several processes (each recorded in the history of
the view it changes) and is offered to the console as a command through the
``procfw.commands`` entry-point group.
"""

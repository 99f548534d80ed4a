"""DrizzleIntegration (PixInsight's drizzle integration of registered frames); see :mod:`processes.drizzle.process`."""

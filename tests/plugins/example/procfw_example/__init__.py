"""An example procfw plugin: the ExampleGain process, the greet command and the .npy format."""

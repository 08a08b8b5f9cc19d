"""Does nothing: run to learn the interpreter's initial GC pool for a heap size."""

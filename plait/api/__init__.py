"""The facade: compile, CompiledPipeline, runs and their results, resume, rerun, answer."""

"""qtopo benchmark suite: registry (instances x variants x phases), runner, renderer. See benchmarks/README.md."""

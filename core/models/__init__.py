"""core.models: networks keyed one-to-one with their official checkpoints, and the VDA weight registry/loader."""

"""core.models: neural networks keyed one-to-one with their official checkpoints (``vda``), and weight loading
(``weights``)."""

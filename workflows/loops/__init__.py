"""`loop` (AgentGate's loops): one agent iterates on one branch until its mode's decider says it is
done (loop.py), with the loops' models, feedback and iteration records beside it."""

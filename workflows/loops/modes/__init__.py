"""Loop deciders, one module per mode (fixed, hybrid, ralph, agentgate, custom files), on the interface in base.py."""

"""Orchard's activities: everything that touches git, processes and files, by what it touches.
worker.py hosts them (ORCHARD_ACTIVITIES); importing one room never imports the others."""

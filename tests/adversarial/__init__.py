"""Hostile submissions against the autograder: see README.md in this folder."""

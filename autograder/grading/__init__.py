"""The trusted side of grading, the coordinator: it reads the workspace and the gradebook, hands
each submission to a worker as plain data (:mod:`autograder.messages`), judges the probes' results
against the expected ones, and records the grades. None of it runs next to a student's code.
"""

"""The instructor's tools before a course runs: release the student notebooks, execute the source
notebooks, and prove each assignment (solutions pass, stubs fail, every probe can fail, every
mutant loses points).
"""

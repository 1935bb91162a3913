"""Implementations the grader tests feed to the checks: independently written correct variants and mutants."""

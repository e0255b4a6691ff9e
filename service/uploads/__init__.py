"""What users upload: documents read into text (extract), the reading done in killable
worker processes (isolation), because every upload is untrusted input.

Nothing here imports Flask, the database or the analysis: the workers load ``extract.py``
by its path, so this package must stay importable on its own.
"""

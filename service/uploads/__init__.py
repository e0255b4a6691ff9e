"""What users upload: a document read into text (extract), the reading done in killable
worker processes (isolation), because every upload is untrusted input; and the original
kept on disk for its scan (storage).

extract.py and isolation.py import nothing of ``service``: the workers load ``extract.py``
by its path, and must import neither Flask nor torch.
"""

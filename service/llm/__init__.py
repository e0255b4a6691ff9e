"""The LLM analyzer: finds risks with a remote LLM that speaks OpenAI's chat API.

One module per job: ``prompt`` (what the LLM is asked), ``chat`` (the HTTP calls, each
under a deadline and a size cap, every one recorded), ``answers`` (the answer's JSON,
checked), ``grounding`` (chunks of whole sentences, and each quoted risk located among the
text's own sentences, as service/analysis/segment.py cuts them), ``failures`` and ``analyzer``
(LLMAnalyzer, which ties them). The answer is untrusted; nothing logged or raised holds the
API key or the document text.
"""

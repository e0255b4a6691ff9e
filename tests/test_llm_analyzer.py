"""LLMAnalyzer against a real OpenAI-compatible HTTP server (testkit/llm_server.py)."""

from __future__ import annotations

import logging
import socket

import pytest

from service.analysis.base import Analysis, AnalysisError, Finding
from service.analysis.labels import LABELS
from service.llm.analyzer import LLMAnalyzer
from service.llm.failures import (
    LLMBadAnswerError,
    LLMNotConfiguredError,
    LLMTimeoutError,
    LLMUnavailableError,
)
from testkit.llm_server import FakeLLMServer

KEY = "sk-test-9f8e7d6c5b4a"
MODEL = "test-model-7b"

REPORT = (
    "Status report, week 12.\n\n"
    "The data warehouse was delivered on time. "
    "UAT may slip two weeks if the test environment is not ready. "
    "Only one engineer knows the billing module.\n\n"
    "Steel prices rose 18% since the estimate, which eats the contingency. "
    "The steering committee approved the new logo."
)
REPORT_RISKS = {
    "UAT may slip two weeks if the test environment is not ready.": "schedule",
    "Only one engineer knows the billing module.": "resource",
    "Steel prices rose 18% since the estimate, which eats the contingency.": "budget",
}


@pytest.fixture
def llm():
    with FakeLLMServer(risks=REPORT_RISKS) as server:
        yield server


def analyzer_for(server: FakeLLMServer, **kwargs) -> LLMAnalyzer:
    options = {"api_key": KEY, "timeout_s": 2.0, **kwargs}
    return LLMAnalyzer(server.base_url, MODEL, **options)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_offsets_exact(text: str, findings: list[Finding]) -> None:
    for f in findings:
        assert text[f.start:f.end] == f.risk


# --------------------------------------------------------------------------- good answers


def test_finds_the_risks_with_exact_offsets_in_text_order(llm):
    analysis = analyzer_for(llm).analyze(REPORT)

    assert isinstance(analysis, Analysis)
    assert [(f.risk, f.category) for f in analysis.findings] == list(REPORT_RISKS.items())
    assert_offsets_exact(REPORT, analysis.findings)
    assert all(f.score == 1.0 for f in analysis.findings)
    assert analysis.dropped == 0
    [call] = analysis.calls
    assert (call.status, call.http_status, call.model, call.error) == ("ok", 200, MODEL, None)
    assert call.prompt_tokens > 0 and call.completion_tokens > 0
    assert call.latency_ms >= 0


def test_analyze_is_the_analyzer_protocol(llm):
    analyzer = analyzer_for(llm)
    findings = analyzer.analyze(REPORT).findings

    assert (analyzer.source, analyzer.version) == ("llm", MODEL)
    assert [f.category for f in findings] == ["schedule", "resource", "budget"]


def test_sends_model_key_json_mode_and_the_taxonomy(llm):
    analyzer_for(llm).analyze(REPORT)

    [request] = llm.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == MODEL
    assert request.body["response_format"] == {"type": "json_object"}
    assert request.body["temperature"] == 0
    system = request.messages[0]
    assert system["role"] == "system"
    for label in LABELS:
        assert f"- {label}:" in system["content"]
    assert "Only one engineer knows the billing module." not in system["content"]
    assert "delay caused by a supplier is vendor" in system["content"]
    assert '{"risks": [{"risk": ' in system["content"]
    assert REPORT in request.document


def test_no_authorization_header_without_a_key_and_trailing_slash_stripped(llm):
    LLMAnalyzer(llm.base_url + "/", MODEL, timeout_s=2).analyze(REPORT)

    [request] = llm.requests
    assert request.path == "/v1/chat/completions"
    assert "Authorization" not in request.headers


def test_fenced_json_is_accepted(llm):
    llm.behaviour = "fenced"
    findings = analyzer_for(llm).analyze(REPORT).findings

    assert [f.category for f in findings] == ["schedule", "resource", "budget"]


def test_findings_sorted_by_position_whatever_order_the_llm_lists(llm):
    llm.reverse = True
    findings = analyzer_for(llm).analyze(REPORT).findings

    assert [f.start for f in findings] == sorted(f.start for f in findings)
    assert [f.category for f in findings] == ["schedule", "resource", "budget"]


def test_context_is_taken_from_the_text_not_from_the_llm(llm):
    [schedule, _, budget] = analyzer_for(llm).analyze(REPORT).findings

    assert "Reason given by the model." not in schedule.context
    assert schedule.context == (
        "The data warehouse was delivered on time. "
        "UAT may slip two weeks if the test environment is not ready. "
        "Only one engineer knows the billing module."
    )
    assert budget.context.endswith("The steering committee approved the new logo.")
    assert budget.risk in budget.context


def test_sentence_reflowed_by_the_llm_maps_back_to_the_original_span():
    text = "Kick-off done.\nThe vendor  may deliver\t   the sensors late. Budget is fine."
    with FakeLLMServer(risks={"The vendor may deliver the sensors late.": "vendor"}) as llm:
        analysis = analyzer_for(llm).analyze(text)

    [finding] = analysis.findings
    assert finding.risk == "The vendor  may deliver\t   the sensors late."
    assert text[finding.start:finding.end] == finding.risk
    assert analysis.dropped == 0


def test_straightened_quotes_still_map_to_the_original_sentence():
    text = "Notes.\nThe client\u2019s \u201cfinal\u201d scope keeps growing. Lunch was good."
    with FakeLLMServer(risks={"The client's \"final\" scope keeps growing.": "scope"}) as llm:
        [finding] = analyzer_for(llm).analyze(text).findings

    assert finding.risk == "The client\u2019s \u201cfinal\u201d scope keeps growing."
    assert text[finding.start:finding.end] == finding.risk


def test_a_repeated_sentence_gets_each_of_its_occurrences():
    sentence = "The test server is down again."
    text = f"Monday. {sentence} Tuesday: all fine. Wednesday. {sentence}"
    with FakeLLMServer(risks={sentence: "technical"}) as llm:
        findings = analyzer_for(llm).analyze(text).findings

    assert [f.start for f in findings] == [text.index(sentence), text.rindex(sentence)]
    assert_offsets_exact(text, findings)


def test_items_listed_twice_give_one_finding(llm):
    llm.extra_items = [{"risk": "Only one engineer knows the billing module.",
                        "category": "resource", "context": ""}]
    analysis = analyzer_for(llm).analyze(REPORT)

    spans = [(f.start, f.end) for f in analysis.findings]
    assert len(spans) == len(set(spans)) == 3


def test_unknown_categories_none_and_invented_sentences_are_dropped_and_counted(llm):
    llm.extra_items = [
        {"risk": "The data warehouse was delivered on time.", "category": "weather"},
        {"risk": "The steering committee approved the new logo.", "category": "none"},
        {"risk": "The moon may crash into the data centre.", "category": "technical"},
        {"risk": "Only one engineer", "category": None},
        {"risk": 42, "category": "budget"},
        "UAT may slip.",
    ]
    analysis = analyzer_for(llm).analyze(REPORT)

    assert analysis.dropped == 6
    assert [f.category for f in analysis.findings] == ["schedule", "resource", "budget"]
    assert all("moon" not in f.risk for f in analysis.findings)


def test_empty_text_makes_no_call(llm):
    analysis = analyzer_for(llm).analyze("  \n\n ")

    assert analysis.findings == [] and analysis.calls == []
    assert llm.requests == []


# --------------------------------------------------------------------------- repair


def test_invalid_json_once_is_repaired_by_a_second_call(llm):
    llm.queue = ["broken_json"]
    analysis = analyzer_for(llm).analyze(REPORT)

    assert [f.category for f in analysis.findings] == ["schedule", "resource", "budget"]
    assert [c.status for c in analysis.calls] == ["invalid_output", "ok"]
    first, repair = llm.requests
    assert repair.messages[:2] == first.messages
    bad_answer, instruction = repair.messages[2:]
    assert bad_answer["role"] == "assistant" and bad_answer["content"].startswith('{"risks"')
    assert instruction["role"] == "user" and "JSON" in instruction["content"]


def test_prose_twice_is_502_after_two_calls(llm):
    llm.behaviour = "prose"
    with pytest.raises(LLMBadAnswerError) as caught:
        analyzer_for(llm).analyze(REPORT)

    error = caught.value
    assert error.status == 502
    assert "not JSON" in error.detail and "retry" in error.detail
    assert [c.status for c in error.calls] == ["invalid_output", "invalid_output"]
    assert len(llm.requests) == 2


def test_an_answer_that_is_not_a_chat_completion_is_502_without_retry(llm):
    llm.behaviour = "not_openai"
    with pytest.raises(AnalysisError) as caught:
        analyzer_for(llm).analyze(REPORT)

    assert caught.value.status == 502
    assert len(llm.requests) == 1
    assert caught.value.calls[0].status == "invalid_output"


# --------------------------------------------------------------------------- failures


def test_no_answer_within_the_timeout_is_504(llm):
    """The server holds its answer until it stops (hang_s only a hang guard): a 504 can
    only be the client's own timeout giving up, once, without a retry."""
    llm.behaviour, llm.hang_s = "hang", 60
    with pytest.raises(LLMTimeoutError) as caught:
        analyzer_for(llm, timeout_s=0.5).analyze(REPORT)

    assert len(llm.requests) == 1
    assert caught.value.status == 504
    assert caught.value.detail == "The LLM did not answer within 0.5 s."
    [call] = caught.value.calls
    assert call.status == "timeout" and call.latency_ms >= 400


def test_an_answer_trickling_in_past_the_timeout_is_504(llm):
    """A byte every 50 ms: each read is quick, the whole answer takes many seconds. Were the
    timeout per read, the answer would arrive whole and the scan succeed: the 504 is the
    timeout bounding the whole answer."""
    llm.behaviour = "trickle"
    with pytest.raises(LLMTimeoutError) as caught:
        analyzer_for(llm, timeout_s=0.5).analyze(REPORT)

    assert len(llm.requests) == 1
    assert [call.status for call in caught.value.calls] == ["timeout"]


def test_http_500_is_502_carrying_the_llms_message(llm):
    llm.behaviour = "error_500"
    with pytest.raises(LLMBadAnswerError) as caught:
        analyzer_for(llm).analyze(REPORT)

    error = caught.value
    assert error.status == 502
    assert error.detail == "The LLM answered HTTP 500: The model is overloaded. Try again."
    [call] = error.calls
    assert (call.status, call.http_status) == ("http_error", 500)
    assert len(llm.requests) == 1


def test_http_401_is_502_and_the_echoed_key_is_redacted(llm):
    llm.behaviour = "error_401"
    with pytest.raises(AnalysisError) as caught:
        analyzer_for(llm).analyze(REPORT)

    error = caught.value
    assert error.status == 502
    assert "HTTP 401" in error.detail and "Incorrect API key provided" in error.detail
    assert KEY not in error.detail and KEY not in error.calls[0].error


def test_an_error_message_quoting_the_document_is_withheld(llm):
    llm.behaviour = "echo_400"
    with pytest.raises(LLMBadAnswerError) as caught:
        analyzer_for(llm).analyze(REPORT)

    assert caught.value.detail.startswith("The LLM answered HTTP 400")
    assert "billing module" not in caught.value.detail
    assert "UAT" not in caught.value.detail


def test_a_redirect_is_not_followed(llm):
    llm.behaviour = "redirect"
    with pytest.raises(LLMBadAnswerError) as caught:
        analyzer_for(llm).analyze(REPORT)

    assert caught.value.status == 502
    assert "redirect" in caught.value.detail
    assert [r.path for r in llm.requests] == ["/v1/chat/completions"]
    assert (caught.value.calls[0].status, caught.value.calls[0].http_status) == ("redirect", 302)


@pytest.mark.parametrize("declare_length", [True, False])
def test_an_oversized_answer_is_502(llm, declare_length):
    llm.behaviour = "oversized"
    llm.declare_length = declare_length
    with pytest.raises(LLMBadAnswerError) as caught:
        analyzer_for(llm, max_response_bytes=50_000).analyze(REPORT)

    assert caught.value.status == 502
    assert "50000 bytes" in caught.value.detail
    assert caught.value.calls[0].status == "too_large"


def test_connection_refused_is_503():
    analyzer = LLMAnalyzer(f"http://127.0.0.1:{closed_port()}/v1", MODEL, api_key=KEY,
                           timeout_s=0.5)
    with pytest.raises(LLMUnavailableError) as caught:
        analyzer.analyze(REPORT)

    assert caught.value.status == 503
    assert "connection refused" in caught.value.detail
    assert [c.status for c in caught.value.calls] == ["connection_error"]


@pytest.mark.parametrize("config, missing", [
    ({}, "LLM_BASE_URL and LLM_MODEL are not set"),
    ({"LLM_BASE_URL": "http://llm:8000/v1", "LLM_MODEL": ""}, "LLM_MODEL is not set"),
    ({"LLM_MODEL": "m", "LLM_API_KEY": KEY}, "LLM_BASE_URL is not set"),
])
def test_not_configured_is_503(config, missing):
    with pytest.raises(LLMNotConfiguredError) as caught:
        LLMAnalyzer.from_config(config)

    assert caught.value.status == 503
    assert "not configured" in caught.value.detail and missing in caught.value.detail
    assert caught.value.calls == []


def test_a_malformed_base_url_is_503_not_configured():
    with pytest.raises(LLMNotConfiguredError) as caught:
        LLMAnalyzer.from_config({"LLM_BASE_URL": "llm:8000", "LLM_MODEL": "m"})

    assert caught.value.status == 503 and "http" in caught.value.detail


def test_from_config_reads_the_settings(llm):
    analyzer = LLMAnalyzer.from_config({
        "LLM_BASE_URL": llm.base_url + "/", "LLM_MODEL": MODEL, "LLM_API_KEY": KEY,
        "LLM_TIMEOUT_S": "0.5",
    })
    assert analyzer.timeout_s == 0.5 and analyzer.version == MODEL
    assert LLMAnalyzer.from_config({"LLM_BASE_URL": llm.base_url, "LLM_MODEL": MODEL}) \
        .timeout_s == 60

    analyzer.analyze(REPORT)
    assert llm.requests[0].headers["Authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(analyzer)


# --------------------------------------------------------------------------- long texts


def long_document() -> tuple[str, dict[str, str]]:
    filler = "The team met and reviewed the weekly figures in detail."
    risks = {}
    paragraphs = []
    for i in range(12):
        risk = f"Supplier number {i} may deliver the parts {i + 2} weeks late."
        risks[risk] = "vendor" if i % 2 else "schedule"
        paragraphs.append(f"Item {i}. {filler} {risk} {filler}")
    return "\n\n".join(paragraphs), risks


def test_a_long_text_goes_in_chunks_and_findings_come_back_in_text_order():
    text, risks = long_document()
    with FakeLLMServer(risks=risks) as llm:
        analysis = analyzer_for(llm, chunk_chars=400).analyze(text)

    assert len(analysis.calls) == len(llm.requests) >= 4
    assert all(len(r.document) - len("Find the risks in this document:\n\n") <= 400
               for r in llm.requests)
    # No sentence was cut in two: every risk is found, each exactly once, in order.
    assert [f.risk for f in analysis.findings] == list(risks)
    assert [f.start for f in analysis.findings] == sorted(f.start for f in analysis.findings)
    assert_offsets_exact(text, analysis.findings)
    # Every part of the text was sent.
    sent = "".join(r.document for r in llm.requests)
    assert all(paragraph.split(". ", 1)[0] in sent for paragraph in text.split("\n\n"))


def test_a_long_paragraph_without_breaks_is_cut_at_sentence_ends():
    sentences = [f"Risk {i}: the interface {i} may fail under load." for i in range(30)]
    text = " ".join(sentences)
    with FakeLLMServer(risks={s: "technical" for s in sentences}) as llm:
        findings = analyzer_for(llm, chunk_chars=250).analyze(text).findings

    assert len(llm.requests) > 1
    assert [f.risk for f in findings] == sentences


def test_a_failing_later_chunk_raises_with_every_call_so_far():
    text, risks = long_document()
    with FakeLLMServer(risks=risks) as llm:
        llm.queue = ["good", "good", "error_500"]
        with pytest.raises(LLMBadAnswerError) as caught:
            analyzer_for(llm, chunk_chars=400).analyze(text)

    assert [c.status for c in caught.value.calls] == ["ok", "ok", "http_error"]


# --------------------------------------------------------------------------- the call log


def test_calls_and_logs_hold_no_key_and_no_document_text(llm, caplog):
    caplog.set_level(logging.DEBUG, logger="service.analysis.llm")
    analyzer = analyzer_for(llm, timeout_s=0.5)
    records = []
    analysis = analyzer.analyze(REPORT, scan_id="scan-123")
    records += analysis.calls
    for behaviour in ("prose", "error_401", "echo_400", "hang"):
        llm.behaviour = behaviour
        with pytest.raises(AnalysisError) as caught:
            analyzer.analyze(REPORT, scan_id="scan-123")
        records += caught.value.calls
        records.append(caught.value.detail)

    logged = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    stored = " ".join(map(str, records))
    assert "scan-123" in logged and MODEL in logged
    for sentence in ["Only one engineer knows", "UAT may slip", "data warehouse", "Status report"]:
        assert sentence not in stored and sentence not in logged
    assert KEY not in stored and KEY not in logged


def test_every_call_is_logged_with_scan_id_model_status_latency_and_tokens(llm, caplog):
    caplog.set_level(logging.INFO, logger="service.analysis.llm")
    llm.queue = ["broken_json"]
    analyzer_for(llm).analyze(REPORT, scan_id="scan-42")

    calls = [r.llm_call for r in caplog.records if hasattr(r, "llm_call")]
    assert [c["status"] for c in calls] == ["invalid_output", "ok"]
    for call in calls:
        assert call["scan_id"] == "scan-42" and call["model"] == MODEL
        assert call["latency_ms"] >= 0 and call["prompt_tokens"] > 0
    assert "status=ok" in caplog.records[-1].getMessage()


# --------------------------------------------------------------------------- hostile text


def run_isolated(script: str, timeout: float = 60) -> dict:
    """Run ``script`` in a fresh interpreter and return the JSON it prints last: code that
    stalls while holding the GIL fails by the timeout instead of stalling the test run."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", script], check=False, cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)}, timeout=timeout,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_run_of_dots_is_analysed_without_stalling():
    """20,000 dots took the old sentence-end regex quadratic time, GIL held."""
    result = run_isolated(
        "import json\n"
        "from service.llm.analyzer import LLMAnalyzer\n"
        "from testkit.llm_server import FakeLLMServer\n"
        "text = '.' * 20_000 + 'x. ' + '(' * 20_000 + ' The vendor is late.'\n"
        "with FakeLLMServer(risks={'The vendor is late.': 'vendor'}) as llm:\n"
        "    analysis = LLMAnalyzer(llm.base_url, 'm', timeout_s=5).analyze(text)\n"
        "print(json.dumps({'risks': [f.risk for f in analysis.findings],\n"
        "                  'offsets': all(text[f.start:f.end] == f.risk\n"
        "                                 for f in analysis.findings),\n"
        "                  'sent': [r.document.split(chr(10))[-1] for r in llm.requests]}))\n")

    assert result["risks"] == ["The vendor is late."] and result["offsets"]
    # Whole sentences only, one chunk each (20,000 "(" apart): no run of dots was sent.
    assert result["sent"] == ["x.", "The vendor is late."]


def test_an_answer_with_a_huge_whitespace_run_in_a_broken_fence_is_refused_quickly():
    """The old fence regex backtracked quadratically over the whitespace (1 MB answers)."""
    result = run_isolated(
        "import json\n"
        "from service.llm.analyzer import LLMAnalyzer\n"
        "from service.llm.failures import LLMBadAnswerError\n"
        "from testkit.llm_server import FakeLLMServer\n"
        "with FakeLLMServer(risks={'The vendor is late.': 'vendor'}) as llm:\n"
        "    llm.behaviour = 'broken_fence'\n"
        "    try:\n"
        "        LLMAnalyzer(llm.base_url, 'm', timeout_s=5).analyze('The vendor is late.')\n"
        "    except LLMBadAnswerError as error:\n"
        "        print(json.dumps({'status': error.status,\n"
        "                          'calls': [c.status for c in error.calls]}))\n")

    assert result == {"status": 502, "calls": ["invalid_output", "invalid_output"]}


def test_a_fenced_answer_padded_with_whitespace_is_accepted(llm):
    llm.behaviour = "fenced"
    llm.extra_items = [{"risk": "UAT may slip two weeks" + " " * 50_000, "category": "schedule"}]
    analysis = analyzer_for(llm).analyze(REPORT)

    assert [f.category for f in analysis.findings] == ["schedule", "resource", "budget"]
    assert analysis.dropped == 1


def test_a_risk_that_is_only_part_of_a_sentence_is_dropped_and_counted(llm):
    llm.extra_items = [
        {"risk": "Only one engineer knows", "category": "resource"},
        {"risk": "UAT may slip two weeks", "category": "schedule"},
        {"risk": "The data warehouse was delivered on time. UAT may slip", "category": "scope"},
        {"risk": "Steel prices rose 18% since the estimate, which eats the contingency. "
                 "The steering committee approved the new logo.", "category": "budget"},
    ]
    analysis = analyzer_for(llm).analyze(REPORT)

    assert analysis.dropped == 4
    assert [f.risk for f in analysis.findings] == list(REPORT_RISKS)


def test_a_risk_from_another_chunk_is_dropped():
    text, risks = long_document()
    names = list(risks)
    first, last = names[0], names[-1]
    with FakeLLMServer(risks={first: "schedule"}) as llm:
        llm.extra_items = [{"risk": last, "category": "vendor"}]  # in the last chunk only
        analysis = analyzer_for(llm, chunk_chars=400).analyze(text)

    assert [f.risk for f in analysis.findings] == [first, last]
    # Every chunk's answer named `last`; only the last chunk holds it, and there it counts.
    assert analysis.dropped == len(analysis.calls) - 1


def test_the_scan_deadline_bounds_all_calls_together():
    """504 at LLM_SCAN_TIMEOUT_S, not chunks × timeout: two chunks are answered, the third
    is held (until the server stops), and each call's own timeout is far past the scan's
    deadline, so only the deadline can end the third call and the scan."""
    text, risks = long_document()
    with FakeLLMServer(risks=risks) as llm:
        llm.queue, llm.behaviour, llm.hang_s = ["good", "good"], "hang", 60
        analyzer = analyzer_for(llm, chunk_chars=400, timeout_s=30, scan_timeout_s=1.2)
        with pytest.raises(LLMTimeoutError) as caught:
            analyzer.analyze(text)
        asked = len(llm.requests)

    error = caught.value
    assert error.status == 504
    assert error.detail == "The LLM scan did not finish within 1.2 s (LLM_SCAN_TIMEOUT_S)."
    assert [c.status for c in error.calls] == ["ok", "ok", "timeout"]
    assert asked == 3 < len(text) // 400  # the chunks after the held one were never asked


def test_from_config_and_the_settings_pass_the_scan_timeout():
    from service.config import Settings
    from service.serving.loading import load_llm

    settings = Settings.from_env({}, RISKSCAN_ENV="testing", LLM_BASE_URL="http://llm:1/v1",
                                 LLM_MODEL="m", LLM_SCAN_TIMEOUT_S=42.0)
    analyzer, error = load_llm(settings)

    assert error is None and analyzer.scan_timeout_s == 42.0
    assert Settings.from_env({}, RISKSCAN_ENV="testing").LLM_SCAN_TIMEOUT_S == 180
    with pytest.raises(ValueError):
        LLMAnalyzer("http://llm:1/v1", "m", scan_timeout_s=0)

"""Text handling scales linearly: ``python -m bench.text_scaling``.

Times, in this one process, ``split_sentences`` and the LLM path's own text handling
(chunking the sentences, locating every sentence as an LLM would quote it, its context; no
network) on pathological and ordinary texts of 20k, 40k, 80k and 160k characters, and
prints each time as a ratio to the 20k run: linear is about 2×, 4× and 8×. Each figure is
the best of a few repeats, each on a text new to spaCy's token cache.
"""

from __future__ import annotations

import argparse
import sys
import time

from service.analysis.segment import sentence_context, split_sentences
from service.llm.grounding import DEFAULT_CHUNK_CHARS, SentenceLocator, chunk_sentences

SIZES = (20_000, 40_000, 80_000, 160_000)

# The unit each text repeats; None: "." * n + "x", a run of dots that ends a word.
KINDS: dict[str, str | None] = {
    "'=' run": "=",
    "'(' run": "(",
    "'_' run": "_",
    "'.' run, then x": None,
    "mixed punctuation run": "=(_.-)!?[]{}<>/\\|*+~^",
    "40-char '(' runs": "(" * 40 + " ",
    "words, no full stop": "the vendor keeps missing deliveries ",
    "full-width stops, no spaces": "项目可能延期。预算不足！",
    "ordinary prose": ("The vendor may deliver the servers late. Approx. 3 weeks of buffer "
                       "remain, i.e. none.\nBudget is fine. "),
}


def text_of(kind: str, n: int, salt: int) -> str:
    """``n`` characters of ``kind``; ``salt`` makes it new to spaCy's token cache."""
    unit, tail = KINDS[kind], f" {salt}"
    if unit is None:
        return "." * (n - 1 - len(tail)) + "x" + tail
    return (unit * (n // len(unit) + 1))[:n - len(tail)] + tail


def llm_text_handling(text: str, sentences) -> int:
    """What LLMAnalyzer does with a text besides the calls: chunks, then each sentence
    located as an LLM would quote it (whitespace reflowed) and its context."""
    locator = SentenceLocator(sentences)
    found = 0
    for chunk in chunk_sentences(sentences, DEFAULT_CHUNK_CHARS):
        for i in chunk:
            index = locator.locate(" ".join(sentences[i].text.split()), chunk)
            if isinstance(index, int):
                sentence_context(text, sentences, index)
                found += 1
    return found


def measure(kind: str, n: int, repeats: int, salt: list[int]) -> tuple[float, float, int]:
    """Best seconds of split_sentences and of the LLM text handling, and the sentences."""
    split_best = llm_best = float("inf")
    count = 0
    for _ in range(repeats):
        salt[0] += 1
        text = text_of(kind, n, salt[0])
        started = time.perf_counter()
        sentences = split_sentences(text)
        split_best = min(split_best, time.perf_counter() - started)
        started = time.perf_counter()
        llm_text_handling(text, sentences)
        llm_best = min(llm_best, time.perf_counter() - started)
        count = len(sentences)
    return split_best, llm_best, count


def run(*, repeats: int = 3, log=print) -> dict:
    """{kind: {size: {"split_s", "llm_s", "sentences"}}} for every kind and size."""
    split_sentences("Warm up the pipeline.")
    salt = [0]
    results: dict[str, dict[int, dict]] = {}
    for kind in KINDS:
        results[kind] = {}
        for n in SIZES:
            split_s, llm_s, count = measure(kind, n, repeats, salt)
            results[kind][n] = {"split_s": split_s, "llm_s": llm_s, "sentences": count}
        log(f"  {kind}: split_sentences {results[kind][SIZES[-1]]['split_s'] * 1000:.0f} ms "
            f"at {SIZES[-1] // 1000}k")
    return results


def table(results: dict) -> str:
    base = SIZES[0]
    head = " / ".join(f"{n // 1000}k" for n in SIZES[1:])
    lines = [(f"| text | split_sentences, {base // 1000}k | ratios {head} | "
              f"LLM text handling, {base // 1000}k | ratios {head} |"),
             "|---|---|---|---|---|"]
    for kind, by_size in results.items():
        split0, llm0 = by_size[base]["split_s"], by_size[base]["llm_s"]
        split = " / ".join(f"{by_size[n]['split_s'] / split0:.1f}×" for n in SIZES[1:])
        llm = " / ".join(f"{by_size[n]['llm_s'] / max(llm0, 1e-9):.1f}×" for n in SIZES[1:])
        lines.append(f"| {kind} | {split0 * 1000:.1f} ms | {split} | {llm0 * 1000:.2f} ms | "
                     f"{llm} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.text_scaling")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many per figure")
    args = parser.parse_args()
    results = run(repeats=args.repeats, log=lambda m: print(m, file=sys.stderr, flush=True))
    print("Linear: 2× / 4× / 8× of the 20k time.\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Models: providers, settings and their values, and the prices every paid model needs."""

from __future__ import annotations

import pytest

from tests.conftest import assert_clean, codes, compile_at, expect

HEAD = "pipeline p\nunits u { trials 2 }\n"  # lines 1-2; the model is line 3
TAIL = 'step a = llm m {\n  prompt "x"\n  output { v: int }\n}\nreport r { n = mean(a.v) }\n'


def check(model: str):
    return compile_at(HEAD + model + "\n" + TAIL)


@pytest.mark.parametrize(
    "model",
    [
        'model m = openai "gpt-4.1-mini" { temperature = 0.2, max_tokens = 300, seed = 7, mode = realtime }',
        'model m = anthropic "claude-haiku-4-5" { max_tokens = 300, mode = realtime }',
        'model m = gemini "gemini-2.5-flash" { temperature = 2, top_p = 0.5, top_k = 40, seed = 1 }',
        'model m = gemini "gemini-2.5-flash-lite" { mode = auto, auto_threshold = 100 }',
        'model m = openai "gpt-9" { price in = $1/M, out = $2/M }',
        'model m = openai_compatible "llama" { base_url = "http://127.0.0.1:8000/v1", api_key_env = "K" }',
        'model m = mock "anything" { invalid_rate = 0.5 }',
    ],
)
def test_valid_models(model: str) -> None:
    assert_clean(check(model))


def test_unknown_model_price_is_a_warning_with_how_to_give_one() -> None:
    c = check('model m = openai "gpt-4.1-mini-turbo"')
    d = expect(
        c, "W0102", "no price known for openai model `gpt-4.1-mini-turbo`", (3, 18, 3, 38), text='"gpt-4.1-mini-turbo"'
    )
    assert not d.is_error and c.ok
    assert d.label.startswith("not in the price table of ")
    assert d.help == (
        "did you mean `gpt-4.1-mini`? Or give its price on the model: "
        "`price in = $0.40/M, out = $1.60/M` (USD per million tokens)"
    )


def test_unknown_price_without_a_close_name() -> None:
    c = check('model m = anthropic "zzzz"')
    d = expect(c, "W0102", "no price known for anthropic model `zzzz`", (3, 21, 3, 27))
    assert d.help.startswith("give its price on the model: `price in = ")


def test_no_price_warning_for_unused_or_local_models() -> None:
    c = compile_at(
        HEAD + 'model m = mock "m"\nmodel unused = openai "gpt-9"\n'
        'model local = openai_compatible "x" { base_url = "http://x" }\n'
        + TAIL
        + 'step b = llm local { prompt "{{ a.v }}" output { w: int } }\nreport q { n = mean(b.w) }\n'
    )
    assert codes(c) == ["W0105"]


def test_unknown_provider() -> None:
    c = check('model m = opnai "gpt-4.1"')
    expect(c, "E0107", "unknown provider `opnai`", (3, 11, 3, 16), text="opnai", help="did you mean `openai`?")
    assert codes(c) == ["E0107"]  # and no price warning for a provider that does not exist


@pytest.mark.parametrize(
    ("settings", "code", "message", "where", "help"),
    [
        (
            "temprature = 1",
            "E0108",
            "unknown model setting `temprature`",
            (3, 30, 3, 44),
            "did you mean `temperature`?",
        ),
        (
            "seed = 1.5",
            "E0802",
            "`seed` must be a whole number, not `1.5`",
            (3, 37, 3, 40),
            "seed: the provider's sampling seed",
        ),
        ("mode = fast", "E0802", "`mode` must be one of batch, realtime, auto, not `fast`", (3, 37, 3, 41), None),
        ("top_p = 3", "E0802", "`top_p` must be between 0 and 1, not 3", (3, 38, 3, 39), None),
        ("temperature = hot", "E0802", "`temperature` must be a number, not `hot`", (3, 44, 3, 47), None),
        ('max_tokens = "a"', "E0802", "`max_tokens` must be a whole number, not `a`", (3, 43, 3, 46), None),
        ("invalid_rate = 0.1", "E0108", "`invalid_rate` does not apply to provider `openai`", (3, 30, 3, 48), None),
    ],
)
def test_model_settings(settings: str, code: str, message: str, where, help: str | None) -> None:
    c = check(f'model m = openai "gpt-4.1" {{ {settings} }}')
    expect(c, code, message, where, help=help)


def test_model_id_and_openai_compatible_and_price_shape() -> None:
    c = check('model m = mock ""')
    expect(c, "E0801", "the model id is empty", (3, 16, 3, 18), text='""')
    c = check('model m = openai_compatible "x"')
    expect(c, "E0803", "an `openai_compatible` model needs a `base_url`", (3, 1, 3, 32))
    c = check('model m = openai_compatible "x" { base_url = "http://x", price in = $1/M }')
    expect(c, "E0804", "a price override needs both `in` and `out`", (3, 58, 3, 73), text="price in = $1/M")


def test_a_reasoning_model_with_a_temperature_is_an_error_with_its_rule() -> None:
    c = check('model m = openai "gpt-5-mini" { temperature = 0.2, top_p = 1 }')
    d = expect(
        c,
        "E0812",
        "openai `gpt-5-mini` refuses `temperature` other than the default (1)",
        (3, 33, 3, 50),
        label="the provider answers every such request with an error",
    )
    assert "rule: OpenAI reasoning models" in d.help and "source: openai 3.57" in d.help
    assert codes(c) == ["E0812"]  # top_p = 1 is the default: nothing to say
    assert codes(check('model m = openai "gpt-5-chat-latest" { temperature = 0.2 }')) == ["W0102"]  # unpriced only
    assert_clean(check('model m = openai "gpt-4.1-mini" { temperature = 0.2 }'))


def test_a_newer_claude_refuses_sampling_and_an_older_one_ignores_it() -> None:
    c = check('model m = anthropic "claude-opus-4-7" { temperature = 1.5 }')
    d = expect(c, "E0812", "anthropic `claude-opus-4-7` refuses `temperature`", (3, 41, 3, 58))
    assert "source: anthropic 2.14, types/message_create_params.py" in d.help
    assert d.help.startswith("remove `temperature`; rule: Claude models after Opus 4.6")
    c = check('model m = anthropic "claude-sonnet-4-5" { top_p = 0.9, top_k = 5 }')
    assert codes(c) == ["W0109", "W0109"] and c.ok
    expect(c, "W0109", "anthropic `claude-sonnet-4-5` ignores `top_p`: octoc does not send it", (3, 43, 3, 54))
    assert codes(check('model m = anthropic "claude-haiku-4-5" { seed = 1 }')) == ["E0108"]  # not twice


def test_top_k_applies_where_a_provider_has_it() -> None:
    c = check('model m = openai "gpt-4.1-mini" { top_k = 3 }')
    expect(c, "E0108", "`top_k` does not apply to provider `openai`", (3, 35, 3, 44))
    c = check('model m = gemini "gemini-2.5-flash" { top_k = 0 }')
    expect(c, "E0802", "`top_k` must be between 1 and 1e+06, not 0", (3, 47, 3, 48))

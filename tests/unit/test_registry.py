import pytest

from models_registry.components import InvalidInput, Number, Text
from models_registry.registry import all_functions, get_function, register


def test_builtin_functions_are_registered_with_their_components():
    names = set(all_functions())
    assert {"identity_image", "image_filter", "trim_words", "slow_steps"} <= names
    trim = get_function("trim_words")
    assert trim.batch is True
    assert [c.kind for c in trim.inputs] == ["text", "slider"]
    assert get_function("slow_steps").wants_progress is True
    assert get_function("identity_image").wants_progress is False


def test_unknown_function_is_a_key_error():
    with pytest.raises(KeyError):
        get_function("os.system")


def test_registering_a_different_function_under_a_taken_name_fails():
    @register(name="test_registry_once", inputs=[Text("t")], outputs=[Text("t")])
    def first(text):
        return text

    with pytest.raises(ValueError, match="already registered"):

        @register(name="test_registry_once", inputs=[Text("t")], outputs=[Text("t")])
        def second(text):
            return text


def test_clean_inputs_checks_count_and_each_value():
    function = get_function("trim_words")
    assert function.clean_inputs(["hello", 3]) == ["hello", 3]
    with pytest.raises(InvalidInput, match="expected 2 input values, got 1"):
        function.clean_inputs(["hello"])
    with pytest.raises(InvalidInput, match="a list"):
        function.clean_inputs({"word": "hello"})
    with pytest.raises(InvalidInput, match="Length"):
        function.clean_inputs(["hello", 99])


def test_components_describe_themselves():
    function = get_function("image_filter")
    assert function.batch is True
    inputs = [c.describe() for c in function.inputs]
    assert [c["kind"] for c in inputs] == ["image", "dropdown"]
    assert inputs[1]["choices"][0] == "grayscale"
    outputs = [c.describe() for c in function.outputs]
    assert [(c["kind"], c["label"]) for c in outputs] == [("image", "Filtered image")]
    assert Number("n", minimum=1).describe() == {
        "kind": "number",
        "label": "n",
        "minimum": 1,
        "maximum": None,
        "integer": False,
    }


def test_a_generator_function_streams_and_cannot_batch():
    assert get_function("tell_story").streams is True
    assert get_function("identity_text").streams is False

    with pytest.raises(ValueError, match="cannot batch"):

        @register(name="test_registry_stream", inputs=[Text("t")], outputs=[Text("t")], batch=True)
        def streamed(texts):
            yield texts

"""Array traits on the wire (widgets/_serialize.py): one trait per array, buffer + dtype + shape."""
from __future__ import annotations

import anywidget
import numpy as np
import pytest
import traitlets as T
from ipywidgets.widgets.widget import _remove_buffers

from widgets._serialize import WireArray, array_from_json, array_to_json, pack, unpack, wire_state
from workbench.errors import InputError


class Probe(anywidget.AnyWidget):
    _esm = "export default { render() {} };"
    weights = WireArray("float16")
    index = WireArray("uint16")
    meta = T.Dict().tag(sync=True)


def test_round_trip_keeps_dtype_shape_and_bytes():
    rng = np.random.default_rng(0)
    a = rng.random((2, 3, 4), dtype=np.float32)
    w = Probe(weights=a)
    assert w.weights.dtype == np.float16 and w.weights.shape == (2, 3, 4)  # cast on assignment
    wire = array_to_json(w.weights)
    assert wire["dtype"] == "float16" and wire["shape"] == [2, 3, 4]
    assert bytes(wire["buffer"]) == a.astype("<f2").tobytes() and len(bytes(wire["buffer"])) == a.size * 2
    back = array_from_json({**wire, "buffer": memoryview(bytes(wire["buffer"]))})
    np.testing.assert_array_equal(back, a.astype(np.float16))
    assert array_to_json(None) is None and array_from_json(None) is None and Probe().weights is None


def test_little_endian_whatever_the_input_byte_order():
    big = np.arange(6, dtype=">u4").reshape(2, 3)
    w = Probe(index=big)
    assert w.index.dtype == np.dtype("<u2")
    assert bytes(array_to_json(w.index)["buffer"]) == bytes([0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0])


def test_non_contiguous_arrays_are_sent_in_logical_order():
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    view = base[::2, 1::2].T  # strided and transposed: shape (3, 2)
    assert not view.flags.c_contiguous
    w = Probe(weights=view)
    wire = array_to_json(w.weights)
    assert wire["shape"] == [3, 2]
    np.testing.assert_array_equal(np.frombuffer(bytes(wire["buffer"]), "<f2").reshape(3, 2), view)


def test_one_message_carries_buffer_dtype_and_shape():
    w = Probe(weights=np.ones((2, 2)), meta={"layer": 3})
    state, paths, buffers = _remove_buffers(w.get_state())
    assert state["weights"] == {"dtype": "float16", "shape": [2, 2]}  # JSON part
    assert ["weights", "buffer"] in paths and len(buffers) == 1 and bytes(buffers[0]) == np.ones(4, "<f2").tobytes()
    sent = []
    w._send = lambda msg, buffers=None: sent.append((msg, buffers))
    with w.hold_sync():
        w.weights = np.zeros((3,))
        w.meta = {"layer": 4}
    assert len(sent) == 1
    data, bufs = sent[0]
    assert set(data["state"]) == {"weights", "meta"} and data["state"]["weights"]["shape"] == [3]
    assert len(bufs) == 1 and bytes(bufs[0]) == bytes(6)


def test_bad_values_are_refused_with_the_trait_name():
    w = Probe()
    with pytest.raises(T.TraitError, match="index: .*do not fit the wire dtype uint16"):
        w.index = np.array([70000])
    with pytest.raises(T.TraitError, match="weights"):
        w.weights = "not numbers"
    with pytest.raises(InputError, match="unsupported wire dtype"):
        WireArray("float64")


def test_pack_unpack_raw_bytes_and_wire_state():
    a = np.random.default_rng(1).random((2, 3, 5), dtype=np.float32)
    p = pack(a)
    assert p.dtype == "float16" and p.shape == (2, 3, 5) and p.nbytes == a.size * 2
    np.testing.assert_array_equal(unpack(p), a.astype(np.float16))
    with pytest.raises(InputError, match="do not fill"):
        unpack(p.data, "float16", (2, 3, 6))
    state = wire_state(Probe(), {"weights": a, "meta": {"x": 1}})
    assert state["meta"] == {"x": 1} and state["weights"]["shape"] == [2, 3, 5]
    assert bytes(state["weights"]["buffer"]) == p.data

"""The pbbp2 frame codec and the long-connection helpers, without a network:
golden bytes written out by hand from the protobuf wire format, decoding of
what a protobuf library would also emit (unknown fields, other field
orders), malformed input refused as FrameError, round trips (hypothesis),
multi-part reassembly and the server's ClientConfig."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatewayctl.workers.feishu_ws import (
    METHOD_CONTROL,
    METHOD_DATA,
    Assembler,
    ClientConfig,
    Frame,
    FrameError,
    ack_frame,
    ping_frame,
)
from tests.support import examples


def test_required_fields_are_written_even_when_zero():
    # proto2 `required`: SeqID=1, LogID=2, service=3, method=4, all varints.
    assert Frame().encode() == bytes.fromhex("08001000" "18002000")


def test_golden_ping_frame():
    # SeqID 0, LogID 0, service 7, method 0 (control), headers [{type: ping}]
    expected = bytes.fromhex("0800" "1000" "1807" "2000" "2a0c" "0a0474797065" "120470696e67")
    assert ping_frame(7).encode() == expected
    assert Frame.decode(expected) == ping_frame(7)


def test_golden_data_frame_with_every_field():
    frame = Frame(seq_id=300, log_id=1, service=2, method=METHOD_DATA, headers=(("sum", "1"),),
                  payload_encoding="gzip", payload_type="json", payload=b"{}", log_id_new="L")
    expected = bytes.fromhex(
        "08ac02"            # SeqID 300 (varint ac 02)
        "1001" "1802" "2001"
        "2a08" "0a0373756d" "120131"  # headers {sum: 1}
        "3204677a6970"      # payload_encoding "gzip"
        "3a046a736f6e"      # payload_type "json"
        "42027b7d"          # payload "{}"
        "4a014c"            # LogIDNew "L"
    )
    assert frame.encode() == expected
    assert Frame.decode(expected) == frame


def test_decode_accepts_other_orders_and_skips_unknown_fields():
    data = bytes.fromhex(
        "42027b7d"          # payload first
        "2001" "1802"
        "5801"              # field 11, varint: unknown
        "6a03616263"        # field 13, bytes: unknown
        "1000" "0805"
        "2a0a" "0a0474797065" "12026576"  # header {type: ev}
    )
    frame = Frame.decode(data)
    assert (frame.seq_id, frame.log_id, frame.service, frame.method) == (5, 0, 2, 1)
    assert frame.payload == b"{}" and frame.header("type") == "ev"


def test_negative_int32_round_trips_as_ten_byte_varint():
    frame = Frame(service=-1, method=METHOD_CONTROL)
    raw = frame.encode()
    assert raw[4:15] == bytes.fromhex("18ffffffffffffffffff01")
    assert Frame.decode(raw).service == -1


@pytest.mark.parametrize("raw", [
    b"\x08",                      # truncated varint
    bytes.fromhex("0800100018002000" "42057b7d"),  # payload shorter than its length
    bytes.fromhex("080010001800"),  # method (required) missing
    bytes.fromhex("0a00100018002000"),  # SeqID with wire type 2
    bytes.fromhex("08001000180020002a020a00"),  # a header without value
    bytes.fromhex("0800100018002000" "0f"),  # wire type 7
    bytes.fromhex("0800100018002000" "3202ff fe".replace(" ", "")),  # payload_encoding not UTF-8
])
def test_malformed_frames_are_frame_errors(raw):
    with pytest.raises(FrameError):
        Frame.decode(raw)


_text = st.text(max_size=20)


@settings(max_examples=examples(200), deadline=None)
@given(seq=st.integers(0, 2**64 - 1), log=st.integers(0, 2**64 - 1), service=st.integers(-2**31, 2**31 - 1),
       method=st.integers(-2**31, 2**31 - 1), headers=st.lists(st.tuples(_text, _text), max_size=5),
       enc=st.none() | _text, ptype=st.none() | _text, payload=st.none() | st.binary(max_size=64),
       new=st.none() | _text)
def test_round_trip(seq, log, service, method, headers, enc, ptype, payload, new):
    frame = Frame(seq, log, service, method, tuple(headers), enc, ptype, payload, new)
    assert Frame.decode(frame.encode()) == frame


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=80))
def test_arbitrary_bytes_decode_or_raise_frame_error(raw):
    try:
        Frame.decode(raw)
    except FrameError:
        pass


def test_ack_echoes_the_frame_with_a_200_payload_and_biz_rt():
    data = Frame(seq_id=9, log_id=3, service=7, method=METHOD_DATA,
                 headers=(("type", "event"), ("message_id", "m1")), payload=b'{"x":1}')
    ack = ack_frame(data, 200, 12)
    assert (ack.seq_id, ack.log_id, ack.service, ack.method) == (9, 3, 7, METHOD_DATA)
    assert ack.header("message_id") == "m1" and ack.header("biz_rt") == "12"
    assert json.loads(ack.payload) == {"code": 200, "headers": None, "data": None}


def test_assembler_joins_parts_in_seq_order_and_forgets_stale_ones():
    now = [100.0]
    asm = Assembler(clock=lambda: now[0])
    assert asm.add("m", 1, 0, b"whole") == b"whole"
    assert asm.add("a", 3, 2, b"C") is None
    assert asm.add("a", 3, 0, b"A") is None
    assert asm.add("a", 3, 1, b"B") == b"ABC"
    assert asm.add("b", 2, 0, b"x") is None
    now[0] += 6  # past the 5 s the SDK keeps parts
    assert asm.add("c", 2, 0, b"y") is None
    assert asm.add("b", 2, 1, b"z") is None  # its first part was dropped
    assert asm.add("a", 3, 7, b"?") is None  # seq out of range


def test_client_config_takes_known_numeric_keys_only():
    conf = ClientConfig()
    conf.update({"ReconnectCount": 3, "ReconnectInterval": 5, "ReconnectNonce": 0, "PingInterval": 90,
                 "Other": 1})
    assert (conf.reconnect_count, conf.reconnect_interval, conf.reconnect_nonce, conf.ping_interval) == (3, 5, 0, 90)
    conf.update({"PingInterval": "fast", "ReconnectCount": True})
    assert conf.ping_interval == 90 and conf.reconnect_count == 3
    conf.update(None)
    assert conf.reconnect_interval == 5

#!/usr/bin/python3
"""Generate json_bodies.json: what Django REST Framework makes of JSON
request bodies, as the real DRF 3.14 on Python 3 does.

    /usr/bin/python3 gen_json_bodies.py > json_bodies.json

Needs Debian's python3-djangorestframework (3.14).

Each body goes through DRF's JSONParser (which decodes UTF-8 and runs
Python's json module, refusing NaN and the infinities); a body it refuses
maps to the detail of the 400 DRF answers ("JSON parse error - …"). A
body it reads maps each member of the object to what a required DRF
CharField makes of the value: the string it validates to, or its errors.
The output is a list of

    {"body": "<base64 of the bytes>", "detail": "…"}
    {"body": "<base64>", "fields": {"<key>": {"value": "…"} or {"errors": […]}}}
    {"body": "<base64>", "not_object": "<Python type name>"}
"""
import base64
import io
import json
import sys

import django
from django.conf import settings

settings.configure(USE_I18N=True, LANGUAGE_CODE="en-us", SECRET_KEY="generation-only")
django.setup()

from rest_framework import exceptions, serializers  # noqa: E402
from rest_framework.parsers import JSONParser  # noqa: E402

BODIES = [
    # Whitespace, emptiness and the top level.
    b" ", b"\n\t\r ", b"{", b"}", b"[", b"]", b"{}", b"[]", b'""', b"null", b"1", b"true",
    b"{} ", b" {}\n", b"{}x", b"{} {}", b"{},", b"nul", b"tru", b"fals", b"nulll", b"x",
    # Objects.
    b'{"a"', b'{"a":', b'{"a": ', b'{"a" 1}', b'{"a":1', b'{"a":1,', b'{"a":1,}', b'{"a":1 "b":2}',
    b'{a:1}', b"{'a':1}", b'{"a":1,"a":2}', b'{ "a" : 1 , "b" : [ 1 , 2 ] }', b'{"a":}', b'{,}',
    b'{"a":1}}', b'{"a":[}', b'{"a":{"b":}}', b'{"a":[1,]}', b'{"a":[1 2]}', b'{"a":[,1]}',
    b'\n\n  {"a":\n  x}', b'{"a":1,\n"b":\n\n,}',
    # Strings.
    b'{"a":"b', b'{"a":"b\\', b'{"a":"\\x"}', b'{"a":"\\u12"}', b'{"a":"\\u12G4"}', b'{"a":"\\u"}',
    b'{"a":"\\u0041', b'{"a":"\\u0041"}', b'{"a":"\\ud83d\\ude00"}', b'{"a":"\\ud83d"}',
    b'{"a":"\\ud83dx"}', b'{"a":"\\ud83d\\u0041"}', b'{"a":"\\ude00"}', b'{"a":"\\ud83d\\ud83d"}',
    b'{"a":"\\ud83d\\uZZZZ"}', b'"\\ud83d\\ude00', b'"\\ud83d\\ude0', b'"\\ud83d\\u', b'"\\u004',
    b'"\\u0041', b'"\\ud83d\\ude00"', b'"\\ud83d\\ude00x', b'"\\ud83d\\ud83d\\ude00"', b'"a\\', b'{"a":"tab\there"}', b'{"a":"nl\nhere"}', b'{"a":"\x7f"}',
    b'{"a":"\x00"}', b'{"a":"\\u0000"}', b'{"a":"\\"\\\\\\/\\b\\f\\n\\r\\t"}', b'{"a\x01":1}',
    b'{"\xc3\xa9":"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "b": x}', b'{"\xf0\x9f\x98\x80":}',
    # Numbers.
    b"[1", b"[1,", b'{"a":1 ', b"-", b"-Infinity", b"-Infinit", b"Infinity", b"NaN", b"[NaN", b"1e5",
    b"1e", b"1.", b"0.5e-3x", b"-01", b"[-]", b"[1e-]", b"[tru]", b"[nul", b"{\"a\":1e9999}",
    b'{"a":-}', b'{"a":-x}', b'{"a":01}', b'{"a":1.}', b'{"a":.5}', b'{"a":1e}', b'{"a":1e+}',
    b'{"a":1.5e}', b'{"a":+1}', b'{"a":0x10}', b'{"a":1E2}', b'{"a":-0}', b'{"a":-0.0}',
    b'{"a":NaN}', b'{"a":Infinity}', b'{"a":-Infinity}', b'{"a":-Inf}', b'{"a":Nan}',
    b'{"a":1e400}', b'{"a":-1e400}', b'{"a":' + b"9" * 4301 + b"}", b'{"a":' + b"9" * 4300 + b"}",
    b'{"a":-' + b"9" * 4301 + b"}",
    # UTF-8 and BOM.
    b'\xef\xbb\xbf{}', b'{"a":"\xff"}', b'{"a":"\xc3"}', b'{"a":"\xc3', b'{"a":"\xe2\x82"}',
    b'{"a":"\xe2\x82', b'{"a":"\xed\xa0\x80"}', b'{"a":"\xc0\xaf"}', b'{"a":"\xf4\x90\x80\x80"}',
    b'{"a":"\xf0\x9f\x98"}', b'\xff{}', b'{"a":"\xe2\x28\xa1"}', b'{"a":"\xf8\x88\x80\x80\x80"}',
    # What a CharField makes of each kind of value.
    b'{"s":"x","i":12,"neg":-7,"f":1.5,"big":1.5e20,"small":0.00001,"e15":1e15,"e16":1e16,'
    b'"tenth":0.1,"third":0.3333333333333333,"zero":0.0,"negzero":-0.0,"exp":1E2,"inf":1e400,'
    b'"bool":true,"no":false,"null":null,"list":[],"obj":{},"blank":"","spaces":" \\t\\n ",'
    b'"trim":"  a b  ","nbsp":"\\u00a0a\\u00a0","fs":"\\u001ca\\u001f","nul":"a\\u0000b",'
    b'"lone":"a\\ud800b","pair":"\\ud83d\\ude00","long":"' + b"x" * 200 + b'","int0":0,'
    b'"bigint":123456789012345678901234567890,"tiny":5e-324,"huge":1.7976931348623157e308,'
    b'"e-4":0.0001,"e-5":0.00012,"round":123456789.123456789,"em":1e-7,"n16":1234567890123456789}',
]


def charfield(value):
    try:
        return {"value": serializers.CharField().run_validation(value)}
    except exceptions.ValidationError as e:
        return {"errors": [str(m) for m in e.detail]}


out = []
for body in BODIES:
    entry = {"body": base64.b64encode(body).decode("ascii")}
    try:
        data = JSONParser().parse(io.BytesIO(body), "application/json", {"encoding": "utf-8"})
    except exceptions.ParseError as e:
        entry["detail"] = str(e.detail)
    else:
        if isinstance(data, dict):
            entry["fields"] = {k: charfield(v) for k, v in data.items()}
        else:
            entry["not_object"] = type(data).__name__
    out.append(entry)

json.dump(out, sys.stdout, ensure_ascii=True, indent=1)
sys.stdout.write("\n")

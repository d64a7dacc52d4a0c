"""schemathesis hooks for tests/test_fuzz.py: most generated dataset ids that are
valid UUIDs become ids of real datasets (``$FUZZ_DATASET_IDS``), so the fuzzer
reaches real pages and not only 404s. Invalid ids are left alone: they are the
negative cases."""

from __future__ import annotations

import os
import uuid
import zlib

import schemathesis

IDS = [i for i in os.environ.get("FUZZ_DATASET_IDS", "").split(",") if i]


@schemathesis.hook
def map_path_parameters(ctx, path_parameters):
    if not IDS or not path_parameters or not isinstance(path_parameters.get("id"), str):
        return path_parameters
    value = path_parameters["id"]
    try:
        uuid.UUID(value)
    except ValueError:
        return path_parameters
    pick = zlib.crc32(value.encode("utf-8", "surrogatepass")) % (len(IDS) + 1)
    if pick < len(IDS):  # one in len(IDS) + 1 stays a random (unknown) id
        path_parameters["id"] = IDS[pick]
    return path_parameters

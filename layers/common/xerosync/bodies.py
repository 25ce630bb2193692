"""What every request body shares: unknown fields refused, strings trimmed, Xero's ids checked as ids."""

import re
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field
from pydantic.json_schema import JsonDict

from xerosync.model import Model
from xerosync.text import WHITESPACE  # what trimming removes

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class StrictBody(Model):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# Strings are trimmed, so a required one must hold more than spaces: said in the document as a pattern (a
# character that is not a space, anywhere), so that "   " is invalid there as it is here.
NOT_BLANK: JsonDict = {"pattern": f"[^{WHITESPACE}]"}


def _xero_id(value: str) -> str:
    if not _UUID.fullmatch(value):
        raise ValueError("must be a Xero id, a UUID such as 297c2dc5-cc47-4afd-8ec8-74990b8761e9 (as the picker "
                         "and reference-data routes give it)")
    return value.lower()


# Xero's AccountID, TrackingCategoryID, TrackingOptionID...: GUIDs. Checked here, so that nothing else ever
# reaches a Xero URL or a stored mapping.
XeroId = Annotated[str, Field(max_length=36, json_schema_extra={"format": "uuid"}), AfterValidator(_xero_id)]

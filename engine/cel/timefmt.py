"""Time helpers: `now()`, `time.parse`, `time.try_parse`, `time.format` with Go-style layouts.

A layout is one of the `TimeFormat.*` constants, a Go reference layout ("2006-01-02",
"15" for the hour, "Jan 2, 2006 3:04 PM", "Z07:00" …) or, for people used to Python, a
strftime pattern containing "%".
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from celpy import celtypes

from .strings import CelFunctionError
from .values import StringType

UTC = datetime.UTC

TIME_FORMATS: dict[str, str] = {
    "RFC3339": "2006-01-02T15:04:05Z07:00",
    "RFC3339_NANO": "2006-01-02T15:04:05.999999999Z07:00",
    "RFC3339NANO": "2006-01-02T15:04:05.999999999Z07:00",
    "DATE": "2006-01-02",
    "DATETIME": "2006-01-02 15:04:05",
    "TIME": "15:04:05",
}

_MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# Go layout elements, longest first where they share a prefix (order matters).
_ELEMENTS = [
    "January", "Jan", "Monday", "Mon", "MST",
    "2006", "002", "01", "02", "03", "04", "05", "06",
    "15", "_2", "1", "2", "3", "4", "5",
    "PM", "pm",
    "Z07:00:00", "Z070000", "Z07:00", "Z0700", "Z07",
    "-07:00:00", "-070000", "-07:00", "-0700", "-07",
]  # fmt: skip
_FRACTION = re.compile(r"[.,](0+|9+)(?!\d)")


@lru_cache(maxsize=256)
def _tokens(layout: str) -> tuple[tuple[str, str], ...]:
    """Split a Go layout into ("element", name) and ("text", literal) tokens."""
    tokens: list[tuple[str, str]] = []
    text = ""
    i = 0
    while i < len(layout):
        fraction = _FRACTION.match(layout, i)
        if fraction and tokens and tokens[-1] == ("element", "05") and not text:
            tokens.append(("fraction", fraction.group(0)))
            i = fraction.end()
            continue
        for element in _ELEMENTS:
            if layout.startswith(element, i):
                # "Jan" inside "January" etc. are covered by order; a digit element must not be
                # part of a longer number such as "20060" (Go is equally literal here).
                if text:
                    tokens.append(("text", text))
                    text = ""
                tokens.append(("element", element))
                i += len(element)
                break
        else:
            text += layout[i]
            i += 1
    if text:
        tokens.append(("text", text))
    return tuple(tokens)


def _offset_text(value: datetime.datetime, element: str) -> str:
    offset = value.utcoffset() or datetime.timedelta(0)
    if element.startswith("Z") and offset == datetime.timedelta(0):
        return "Z"
    total = int(offset.total_seconds())
    sign = "-" if total < 0 else "+"
    total = abs(total)
    hours, minutes, seconds = total // 3600, (total // 60) % 60, total % 60
    core = element.lstrip("Z-")
    if core == "07":
        return f"{sign}{hours:02d}"
    if core == "0700":
        return f"{sign}{hours:02d}{minutes:02d}"
    if core == "07:00":
        return f"{sign}{hours:02d}:{minutes:02d}"
    if core == "070000":
        return f"{sign}{hours:02d}{minutes:02d}{seconds:02d}"
    return f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}"


def _format_element(value: datetime.datetime, element: str) -> str:
    hour12 = value.hour % 12 or 12
    simple = {
        "January": _MONTHS[value.month - 1],
        "Jan": _MONTHS[value.month - 1][:3],
        "Monday": _DAYS[value.weekday()],
        "Mon": _DAYS[value.weekday()][:3],
        "MST": value.tzname() or "UTC",
        "2006": f"{value.year:04d}",
        "06": f"{value.year % 100:02d}",
        "01": f"{value.month:02d}",
        "1": str(value.month),
        "02": f"{value.day:02d}",
        "_2": f"{value.day:2d}",
        "2": str(value.day),
        "002": f"{value.timetuple().tm_yday:03d}",
        "15": f"{value.hour:02d}",
        "03": f"{hour12:02d}",
        "3": str(hour12),
        "04": f"{value.minute:02d}",
        "4": str(value.minute),
        "05": f"{value.second:02d}",
        "5": str(value.second),
        "PM": "PM" if value.hour >= 12 else "AM",
        "pm": "pm" if value.hour >= 12 else "am",
    }
    if element in simple:
        return simple[element]
    return _offset_text(value, element)


def format_layout(value: datetime.datetime, layout: str) -> str:
    if "%" in layout:
        return value.strftime(layout)
    parts = []
    for kind, token in _tokens(layout):
        if kind == "text":
            parts.append(token)
        elif kind == "fraction":
            digits = len(token) - 1
            nanos = f"{value.microsecond:06d}000"[:digits].ljust(digits, "0")
            if token[1] == "9":
                nanos = nanos.rstrip("0")
                parts.append(token[0] + nanos if nanos else "")
            else:
                parts.append(token[0] + nanos)
        else:
            parts.append(_format_element(value, token))
    return "".join(parts)


_PATTERNS = {
    "January": r"(?P<month_name>" + "|".join(_MONTHS) + ")",
    "Jan": r"(?P<month_abbr>" + "|".join(m[:3] for m in _MONTHS) + ")",
    "Monday": "(?:" + "|".join(_DAYS) + ")",
    "Mon": "(?:" + "|".join(d[:3] for d in _DAYS) + ")",
    "MST": r"(?P<tzname>[A-Za-z]{3,5}|[+-]\d{2,4})",
    "2006": r"(?P<year>\d{4})",
    "06": r"(?P<year2>\d{2})",
    "01": r"(?P<month>\d{2})",
    "1": r"(?P<month>\d{1,2})",
    "02": r"(?P<day>\d{2})",
    "_2": r" ?(?P<day>\d{1,2})",
    "2": r"(?P<day>\d{1,2})",
    "002": r"(?P<yday>\d{3})",
    "15": r"(?P<hour>\d{1,2})",
    "03": r"(?P<hour12>\d{2})",
    "3": r"(?P<hour12>\d{1,2})",
    "04": r"(?P<minute>\d{2})",
    "4": r"(?P<minute>\d{1,2})",
    "05": r"(?P<second>\d{2})",
    "5": r"(?P<second>\d{1,2})",
    "PM": r"(?P<ampm>AM|PM)",
    "pm": r"(?P<ampm>AM|PM)",
    "Z07:00:00": r"(?P<offset>Z|[+-]\d{2}:\d{2}:\d{2})",
    "Z070000": r"(?P<offset>Z|[+-]\d{6})",
    "Z07:00": r"(?P<offset>Z|[+-]\d{2}:\d{2})",
    "Z0700": r"(?P<offset>Z|[+-]\d{4})",
    "Z07": r"(?P<offset>Z|[+-]\d{2})",
    "-07:00:00": r"(?P<offset>[+-]\d{2}:\d{2}:\d{2})",
    "-070000": r"(?P<offset>[+-]\d{6})",
    "-07:00": r"(?P<offset>[+-]\d{2}:\d{2})",
    "-0700": r"(?P<offset>[+-]\d{4})",
    "-07": r"(?P<offset>[+-]\d{2})",
}


@lru_cache(maxsize=256)
def _parser(layout: str) -> re.Pattern[str]:
    tokens = _tokens(layout)
    pattern = ""
    used: set[str] = set()
    for index, (kind, token) in enumerate(tokens):
        if kind == "text":
            pattern += re.escape(token)
        elif kind == "fraction":
            pattern += r"(?:[.,](?P<fraction>\d+))" + ("?" if token[1] == "9" else "")
        else:
            piece = _PATTERNS[token]
            group = re.search(r"\?P<(\w+)>", piece)
            if group:
                if group.group(1) in used:  # a repeated element: match, do not capture again
                    piece = piece.replace(f"?P<{group.group(1)}>", "?:")
                used.add(group.group(1))
            pattern += piece
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if token in ("05", "5") and (following is None or following[0] != "fraction"):
                pattern += r"(?:[.,](?P<fraction>\d+))?"  # Go accepts seconds' fractions
    return re.compile(pattern + r"\Z", re.IGNORECASE)


def _zone(name: str) -> datetime.tzinfo:
    if name.upper() in ("UTC", "Z", "GMT", ""):
        return UTC
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name)
    if match:
        delta = datetime.timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
        return datetime.timezone(-delta if match.group(1) == "-" else delta)
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise CelFunctionError(f"unknown time zone {name!r}") from error


def _offset(text: str) -> datetime.tzinfo:
    if text.upper() == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes, seconds = int(digits[:2]), int(digits[2:4] or 0), int(digits[4:6] or 0)
    delta = datetime.timedelta(hours=hours, minutes=minutes, seconds=seconds)
    return datetime.timezone(sign * delta)


def _mismatch(layout: str) -> str:
    # The value itself is left out: it may be personal data.
    return f"time.parse: the value does not match the layout `{str.__str__(layout)[:60]}`"


def parse_layout(text: str, layout: str, zone: datetime.tzinfo = UTC) -> datetime.datetime:
    if "%" in layout:
        try:
            value = datetime.datetime.strptime(text, layout)
        except ValueError as error:
            raise CelFunctionError(_mismatch(layout)) from error
        return value if value.tzinfo else value.replace(tzinfo=zone)
    match = _parser(layout).match(text)
    if match is None:
        raise CelFunctionError(_mismatch(layout))
    found = {key: value for key, value in match.groupdict().items() if value is not None}
    year = int(found["year"]) if "year" in found else None
    if year is None and "year2" in found:
        short = int(found["year2"])
        year = 1900 + short if short >= 69 else 2000 + short
    month = 1
    if "month" in found:
        month = int(found["month"])
    elif "month_name" in found:
        month = [m.lower() for m in _MONTHS].index(found["month_name"].lower()) + 1
    elif "month_abbr" in found:
        month = [m[:3].lower() for m in _MONTHS].index(found["month_abbr"].lower()) + 1
    day = int(found.get("day", 1))
    hour = int(found.get("hour", 0))
    if "hour12" in found:
        hour = int(found["hour12"]) % 12
        if found.get("ampm", "").upper() == "PM":
            hour += 12
    minute = int(found.get("minute", 0))
    second = int(found.get("second", 0))
    micro = int((found.get("fraction", "") + "000000")[:6])
    tz = zone
    if "offset" in found:
        tz = _offset(found["offset"])
    elif "tzname" in found:
        name = found["tzname"]
        tz = _offset(name) if name[0] in "+-" else UTC if name.upper() in ("UTC", "GMT") else zone
    try:
        base = datetime.datetime(
            year if year is not None else 1, month, day, hour, minute, second, micro, tzinfo=tz
        )
        if "yday" in found:
            base = base.replace(month=1, day=1) + datetime.timedelta(days=int(found["yday"]) - 1)
    except ValueError as error:
        raise CelFunctionError(_mismatch(layout) + f" ({error})") from error
    return base


def _layout(layout: Any) -> str:
    if not isinstance(layout, str):
        raise CelFunctionError("a time layout must be a string such as TimeFormat.RFC3339")
    return TIME_FORMATS.get(layout.upper(), layout) if layout.isupper() else layout


def _timestamp(value: datetime.datetime) -> celtypes.TimestampType:
    return celtypes.TimestampType(value.astimezone(UTC))


def time_parse(value: Any, layout: Any, tz: Any = None) -> celtypes.TimestampType:
    if isinstance(value, datetime.datetime):
        return _timestamp(value if value.tzinfo else value.replace(tzinfo=UTC))
    if not isinstance(value, str):
        raise CelFunctionError("time.parse() needs a string value")
    zone = _zone(str(tz)) if tz is not None else UTC
    return _timestamp(parse_layout(value.strip(), _layout(layout), zone))


def time_try_parse(value: Any, layout: Any, default: Any) -> Any:
    try:
        return time_parse(value, layout)
    except (CelFunctionError, ValueError, TypeError, OverflowError):
        return default


def time_format(value: Any, layout: Any, tz: Any = None) -> StringType:
    if not isinstance(value, datetime.datetime):
        raise CelFunctionError("time.format() needs a timestamp")
    zone = _zone(str(tz)) if tz is not None else UTC
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    return StringType(format_layout(moment.astimezone(zone), _layout(layout)))


def now() -> celtypes.TimestampType:
    return celtypes.TimestampType(datetime.datetime.now(UTC))


TIME_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "now": now,
    "time.now": now,
    "time.parse": time_parse,
    "time.try_parse": time_try_parse,
    "time.tryParse": time_try_parse,
    "time.format": time_format,
}

"""WAF rules as pure functions and data (no ASGI), modelled on the AWS WAF managed rule groups
``AWSManagedRulesCommonRuleSet`` (the Core Rule Set) and ``AWSManagedRulesKnownBadInputsRuleSet``, plus the
two custom rules every AWS web ACL of ours carries: an IP block list and a geo block.

Each rule keeps the AWS rule name (``<Attack>_<part>``) so a block here reads like a block in the AWS console.
Rules run in :data:`HEAD_RULES` order on the request line and headers, then — for a non-upload body that
passed the head rules — in :data:`BODY_RULES` order. Like the AWS text transformations (``URL_DECODE``,
``HTML_ENTITY_DECODE``), inspected values are URL-decoded repeatedly (up to :data:`DECODE_ROUNDS` times), so
single-, double- and triple-encoded attacks match the same patterns as the plain form.

The patterns are deliberately anchored (``../`` only at a path boundary, ``<script`` only as a tag,
``javascript:`` only where a URL starts) so that JSON API traffic, prose that mentions "select" or "script",
ISO dates, decimals, e-mail addresses and the docs pages pass.
"""

from __future__ import annotations

import base64
import binascii
import html
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from investai.api.middleware.client_ip import IPNetwork, parse_ip

DECODE_ROUNDS = 3
MAX_LOOKUP_ROUNDS = 16

# --- configuration and the request as the rules see it ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class WafConfig:
    """Rule parameters (built from ``Settings`` by the middleware)."""

    max_query_bytes: int = 2048
    max_cookie_bytes: int = 10240
    max_uri_path_bytes: int = 1024
    max_body_bytes: int = 65536
    block_localhost_host: bool = False
    ip_blocklist: tuple[IPNetwork, ...] = ()
    blocked_countries: frozenset[str] = frozenset()
    country_header: str = "cloudfront-viewer-country"


@dataclass(frozen=True)
class RequestHead:
    """The request line and headers. ``path`` is the raw (still percent-encoded) path and ``query_string``
    the raw query; header names are lower case. Decoded views are computed once, on first use."""

    method: str
    path: str
    query_string: str
    headers: tuple[tuple[str, str], ...]
    client_ip: str

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    @cached_property
    def path_texts(self) -> tuple[str, ...]:
        """The path, its decodings, and each truncated at a NUL (``/app.env%00.json``)."""
        texts = decode_variants(self.path)
        return _unique([*texts, *(text.split("\x00", 1)[0] for text in texts)])

    @cached_property
    def query_texts(self) -> tuple[str, ...]:
        return decode_variants(self.query_string, plus=True)

    @cached_property
    def query_argument_texts(self) -> tuple[str, ...]:
        pairs = parse_qsl(self.query_string, keep_blank_values=True, errors="replace")
        return _unique(text for pair in pairs for item in pair for text in decode_variants(item, plus=True))

    @cached_property
    def header_texts(self) -> tuple[str, ...]:
        return _unique(
            text for _, value in self.headers if not _BEARER_JWT.fullmatch(value) for text in decode_variants(value)
        )

    @cached_property
    def cookie_texts(self) -> tuple[str, ...]:
        values = [
            part.partition("=")[2].strip()
            for header in self.header_values("cookie")
            for part in header.split(";")
            if part.strip()
        ]
        return _unique(text for value in values for text in decode_variants(value))


# --- decoding ----------------------------------------------------------------------------------------------

_BEARER_JWT = re.compile(r"Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
"""A bearer JWT: three base64url segments. Such a value holds no ``$ < / : %`` or space, so no content rule
can match it; skipping it spares decoding and scanning the longest header of most requests."""

_PERCENT_U = re.compile(r"%u([0-9a-fA-F]{4})")  # IIS-style %u002e
_BACKSLASH_U = re.compile(r"\\u([0-9a-fA-F]{4})")  # JSON / JavaScript \u003c outside parsed JSON
_OVERLONG_UTF8 = {  # overlong encodings of '.', '/' and '\' (the classic %c0%ae%c0%ae%c0%af)
    b"\xc0\xae": b".",
    b"\xe0\x80\xae": b".",
    b"\xc0\xaf": b"/",
    b"\xe0\x80\xaf": b"/",
    b"\xc1\x9c": b"\\",
    b"\xc1\x1c": b"\\",
}


def _decode_once(text: str, *, plus: bool) -> str:
    text = _PERCENT_U.sub(lambda match: chr(int(match.group(1), 16)), text)
    text = _BACKSLASH_U.sub(lambda match: chr(int(match.group(1), 16)), text)
    if plus:
        text = text.replace("+", " ")
    # surrogates (from a \ud800 escape, or text a client sent that was never UTF-8) are kept as bytes here and
    # read back as U+FFFD: inspection must never fail on text the application will refuse anyway
    raw = unquote_to_bytes(text.encode("utf-8", "surrogatepass"))
    for overlong, plain in _OVERLONG_UTF8.items():
        raw = raw.replace(overlong, plain)
    return raw.decode("utf-8", errors="replace")


def decode_variants(text: str, *, plus: bool = False, rounds: int = DECODE_ROUNDS) -> tuple[str, ...]:
    """``text`` and its successive URL decodings (up to ``rounds``; stops when nothing changes)."""
    variants = [text]
    current = text
    for _ in range(rounds):
        decoded = _decode_once(current, plus=plus)
        if decoded == current:
            break
        variants.append(decoded)
        current = decoded
    return tuple(variants)


def _unique(texts: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(texts))


# --- content inspectors: one per attack family, each a pure ``str -> bool`` ---------------------------------

_BOUNDARY = r"""(?:^|[\s/\\="'&:])"""
_LFI = re.compile(
    rf"{_BOUNDARY}\.{{2,}}(?:;[^/\\]*)?[/\\]"  # ../ ..\ ..;/ and the ....// filter bypass
    r"|[/\\]\.{2,}$"  # a trailing /..
    r"|(?:^|[/\\])etc[/\\]+(?:passwd|shadow|group|hosts|issue|crontab|sudoers)\b"
    r"|(?:^|[/\\])proc[/\\]+(?:self|\d+)[/\\]"
    r"|(?:^|[/\\])windows[/\\]+(?:win\.ini|system32[/\\])"
    r"|(?:^|[/\\])boot\.ini\b"
    r"|(?:^|[\s\"'=])(?:file|php|phar|expect|zip|glob):/",
    re.IGNORECASE,
)


def is_lfi(text: str) -> bool:
    """Local file inclusion / path traversal. Modelled on ``GenericLFI_*`` of the AWS Core Rule Set: ``../``
    (and ``..\\``, ``..;/``, ``....//``) at a path boundary, well-known system files and stream wrappers."""
    return _LFI.search(text) is not None


_URL_HOST = re.compile(
    r"(?i)\b[a-z][a-z0-9+.-]{0,15}:/{2,}(?:[^/?#@\s\\]*@)?(\[[^\]\s]{1,64}\]|[^/?#:\s\\\"'<>`]{1,255})"
)


def url_hosts(text: str) -> Iterator[str]:
    """Hosts of the ``scheme://host`` URLs in ``text``, lower case (brackets kept for IPv6)."""
    for match in _URL_HOST.finditer(text):
        yield match.group(1).lower()


def inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address written any way ``inet_aton`` (and so curl, browsers, HTTP libraries) accepts it:
    1 to 4 dot-separated parts, each decimal, octal (leading 0) or hex (0x) — ``2852039166``,
    ``0xa9fea9fe``, ``0251.0376.0251.0376``, ``169.254.43518``."""
    parts = host.rstrip(".").split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        lowered = part.lower()
        try:
            if lowered.startswith("0x"):
                numbers.append(int(lowered[2:] or "0", 16))
            elif len(lowered) > 1 and lowered.startswith("0"):
                numbers.append(int(lowered[1:], 8))
            else:
                numbers.append(int(lowered, 10) if lowered.isdigit() else -1)
        except ValueError:
            return None
    if any(number < 0 for number in numbers):
        return None
    *leading, last = numbers
    if any(number > 255 for number in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _ipv6_host(host: str) -> ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.strip("[]").partition("%")[0])
    except ValueError:
        return None
    return address if isinstance(address, ipaddress.IPv6Address) else None


def _ipv4_of_host(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a URL host denotes, also through IPv4-mapped, -compatible and NAT64 IPv6."""
    if host.startswith("["):
        v6 = _ipv6_host(host)
        if v6 is None:
            return None
        if v6.ipv4_mapped is not None:
            return v6.ipv4_mapped
        if v6 in _NAT64 or int(v6) >> 32 == 0:
            return ipaddress.IPv4Address(int(v6) & 0xFFFFFFFF)
        return None
    return inet_aton(host)


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_METADATA_V4 = frozenset(
    {
        ipaddress.IPv4Address("169.254.169.254"),  # EC2, GCP, Azure instance metadata
        ipaddress.IPv4Address("169.254.170.2"),  # ECS task metadata / credentials
    }
)
_METADATA_V6 = ipaddress.IPv6Address("fd00:ec2::254")
_METADATA_NAMES = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)
_METADATA_LITERAL = re.compile(
    r"169\.254\.169\.254|169\.254\.170\.2\b|fd00:0?ec2::254|metadata\.google\.internal", re.I
)
_DOTTED_NUMBERS = re.compile(r"(?i)(?<![\w.])(?:0x[0-9a-f]+|\d+)(?:\.(?:0x[0-9a-f]+|\d+)){1,3}(?![\w.])")
_IPV6_LIKE = re.compile(r"(?i)(?<![\w:])[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}(?![\w:])")


def _is_metadata_host(host: str) -> bool:
    if host.strip(".") in _METADATA_NAMES:
        return True
    if host.startswith("[") and _ipv6_host(host) == _METADATA_V6:
        return True
    return _ipv4_of_host(host) in _METADATA_V4


def is_metadata_ssrf(text: str) -> bool:
    """Cloud instance-metadata SSRF. Modelled on ``EC2MetaDataSSRF_*`` of the AWS Core Rule Set: the metadata
    endpoints 169.254.169.254, fd00:ec2::254 and metadata.google.internal (and the ECS 169.254.170.2) as
    literals anywhere, in any ``inet_aton`` notation when dotted, and as URL hosts in integer, hex, octal and
    IPv4-mapped IPv6 form (``http://2852039166/``, ``http://[::ffff:a9fe:a9fe]/``)."""
    if _METADATA_LITERAL.search(text):
        return True
    if any(_is_metadata_host(host) for host in url_hosts(text)):
        return True
    if any(inet_aton(token) in _METADATA_V4 for token in _DOTTED_NUMBERS.findall(text) if token.count(".") == 3):
        return True
    return any(_ipv6_host(token) == _METADATA_V6 for token in _IPV6_LIKE.findall(text))


def is_rfi(text: str) -> bool:
    """Remote file inclusion. Modelled on ``GenericRFI_*`` of the AWS Core Rule Set: a URL whose host is an
    IPv4 address (dotted, or any other ``inet_aton`` notation, or IPv4-mapped IPv6)."""
    return any(_ipv4_of_host(host) is not None for host in url_hosts(text))


_XSS_TAGS = (
    "script|iframe|frame|frameset|object|embed|applet|svg|math|img|meta|base|link|style|form|body|video|audio"
    "|marquee|isindex"
)
_XSS = re.compile(
    rf"</?(?:{_XSS_TAGS})\b"  # a dangerous tag, opening or closing
    r"|<[a-z][^<>]{0,256}?[\s/\"'`]on[a-z]{3,32}\s{0,16}="  # an event handler inside a tag: <x onerror=
    r"|[\"'`][\s/]{0,16}on[a-z]{3,32}\s{0,16}="  # an attribute breakout: " onmouseover=
    r"|(?:^|[=\"'`(])\s{0,16}(?:javascript|vbscript|livescript)\s{0,16}:"  # a script URL where a URL starts
    r"|(?:^|[=\"'`(])\s{0,16}data\s{0,16}:\s{0,16}text/html"
    r"|document\s{0,16}\.\s{0,16}(?:cookie|domain|write)\b"
    r"|fromcharcode\s{0,16}\("
    r"|\bsrcdoc\s{0,16}=",
    re.IGNORECASE,
)
_URL_WHITESPACE = re.compile(r"[\t\r\n\x00]")


def is_xss(text: str) -> bool:
    """Cross-site scripting. Modelled on ``CrossSiteScripting_*`` of the AWS Core Rule Set, including its
    ``HTML_ENTITY_DECODE`` transformation: script-capable tags, event-handler attributes, ``javascript:``
    URLs (with the tabs and newlines browsers ignore removed) and script sinks such as ``document.cookie``."""
    candidates = _unique([text, html.unescape(text)])
    return any(_XSS.search(candidate) or _XSS.search(_URL_WHITESPACE.sub("", candidate)) for candidate in candidates)


_LOOKUP = re.compile(r"\$\{([^${}]*)\}")
_JNDI = re.compile(r"\$\{\s*jndi\s*:", re.IGNORECASE)
_NESTED_LOOKUP = re.compile(r"\$\{[^}]{0,64}\$\{")


def _resolve_lookup(match: re.Match[str]) -> str:
    """What Log4j would substitute for one innermost ``${...}`` lookup, for the lookups attackers use to
    spell ``jndi``; any other lookup is left as written."""
    inner = match.group(1)
    if ":-" in inner:
        return inner.split(":-", 1)[1]  # ${anything:-j} defaults to j
    prefix, separator, rest = inner.partition(":")
    prefix = prefix.strip().lower()
    if not separator:
        return match.group(0)
    if prefix == "lower":
        return rest.lower()
    if prefix == "upper":
        return rest.upper()  # also maps the dotless i (U+0131) to I
    if prefix == "date":
        return rest.strip("'\"")
    if prefix == "base64":
        try:
            return base64.b64decode(rest, validate=False).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            return match.group(0)
    return match.group(0)


def log4j_resolution_steps(text: str) -> Iterator[str]:
    """``text``, then ``text`` with the obfuscating lookups resolved one level at a time, innermost first:
    ``${${lower:j}ndi:`` → ``${jndi:``. Every step is inspected, so a default (``${jndi:ldap://x/a:-b}``,
    which Log4j still looks up) cannot hide the ``${jndi:`` it resolves away."""
    yield text
    for _ in range(MAX_LOOKUP_ROUNDS):
        resolved = _LOOKUP.sub(_resolve_lookup, text)
        if resolved == text:
            return
        text = resolved
        yield text


def is_log4j(text: str) -> bool:
    """Log4Shell (CVE-2021-44228). Modelled on ``Log4JRCE_*`` of the AWS Known Bad Inputs rule group:
    ``${jndi:`` after resolving the obfuscations (``${${lower:j}ndi:``, ``${${::-j}${::-n}di:``,
    ``${${env:X:-j}ndi:``, ``${j${k8s:k5:-ND}i:``), and nested lookups, which no legitimate input contains."""
    if "${" not in text:
        return False
    if _NESTED_LOOKUP.search(text):
        return True
    return any(_JNDI.search(step) for step in log4j_resolution_steps(text))


_JAVA_DESER = re.compile(
    r"java\.lang\.(?:runtime|processbuilder|process\b|reflect\.method)"
    r"|runtime\s*\.\s*getruntime\s*\(|ysoserial"
    r"|org\.apache\.commons\.collections4?\.(?:functors|keyvalue|map)"
    r"|com\.sun\.org\.apache\.xalan\.internal\.xsltc"
    r"|\b(?:invokertransformer|chainedtransformer|constanttransformer|instantiatetransformer|instantiatefactory"
    r"|templatesimpl|jdbcrowsetimpl|badattributevalueexpexception|annotationinvocationhandler|methodclosure"
    r"|convertedclosure|objectfactorydelegatinginvocationhandler|jrmpclient|jrmplistener|lazymap|tiedmapentry)\b"
    r"|(?<![0-9a-f])aced0005",
    re.IGNORECASE,
)
_JAVA_SERIAL_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_-])rO0AB")  # base64 of the stream magic AC ED 00 05
JAVA_SERIAL_MAGIC = b"\xac\xed\x00\x05"
_JAVA_DESER_ANCHORS = (
    "java.lang",
    "getruntime",
    "ysoserial",
    "org.apache.commons.collections",
    "com.sun.org.apache",
    "transformer",
    "instantiatefactory",
    "templatesimpl",
    "jdbcrowsetimpl",
    "badattributevalueexpexception",
    "annotationinvocationhandler",
    "closure",
    "objectfactorydelegatinginvocationhandler",
    "jrmp",
    "lazymap",
    "tiedmapentry",
    "aced0005",
)


def is_java_deserialization(text: str) -> bool:
    """Java deserialization RCE. Modelled on ``JavaDeserRCE_*`` of the AWS Known Bad Inputs rule group:
    ``java.lang.Runtime``-style payloads, a serialized object stream (``rO0AB`` base64, ``aced0005`` hex) and
    ysoserial gadget class names."""
    if "rO0AB" in text and _JAVA_SERIAL_BASE64.search(text) is not None:
        return True
    lowered = text.lower()
    if not any(anchor in lowered for anchor in _JAVA_DESER_ANCHORS):  # a literal prefilter: most text has none
        return False
    return _JAVA_DESER.search(text) is not None


# --- head rules: the request line and headers -------------------------------------------------------------

Predicate = Callable[[RequestHead, WafConfig], bool]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    matches: Predicate
    description: str


def _ip_block_list(head: RequestHead, config: WafConfig) -> bool:
    """A custom IP-set rule (AWS WAF ``IPSetReferenceStatement``) on the client address."""
    if not config.ip_blocklist:
        return False
    address = parse_ip(head.client_ip)
    return address is not None and any(address in network for network in config.ip_blocklist)


def _geo_block(head: RequestHead, config: WafConfig) -> bool:
    """A custom geo-match rule on the country CloudFront resolved (``CloudFront-Viewer-Country``)."""
    if not config.blocked_countries:
        return False
    country = head.header(config.country_header)
    return country is not None and country.strip().upper() in config.blocked_countries


def _propfind(head: RequestHead, _config: WafConfig) -> bool:
    """``PROPFIND_METHOD`` (Known Bad Inputs): WebDAV discovery, used to probe servers."""
    return head.method.upper() == "PROPFIND"


def _localhost_host(head: RequestHead, config: WafConfig) -> bool:
    """``Host_localhost_HEADER`` (Known Bad Inputs): a Host naming the loopback, as in SSRF and DNS
    rebinding. Off in the dev profile, where the service really is reached as localhost."""
    if not config.block_localhost_host:
        return False
    host = (head.header("host") or "").strip().lower().rstrip(".")
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host == "localhost" or host.endswith(".localhost"):
        return True
    address = parse_ip(host)
    return address is not None and (address.is_loopback or address.is_unspecified)


def _size_uri_path(head: RequestHead, config: WafConfig) -> bool:
    """``SizeRestrictions_URIPATH`` (Core Rule Set): an overlong path (AWS: 1,024 bytes)."""
    return len(head.path.encode("latin-1", errors="replace")) > config.max_uri_path_bytes


def _size_query(head: RequestHead, config: WafConfig) -> bool:
    """``SizeRestrictions_QUERYSTRING`` (Core Rule Set): an overlong query string (AWS: 2,048 bytes)."""
    return len(head.query_string.encode("latin-1", errors="replace")) > config.max_query_bytes


def _size_cookie(head: RequestHead, config: WafConfig) -> bool:
    """``SizeRestrictions_Cookie_HEADER`` (Core Rule Set): an overlong Cookie header (AWS: 10,240 bytes)."""
    size = sum(len(value.encode("latin-1", errors="replace")) for value in head.header_values("cookie"))
    return size > config.max_cookie_bytes


def _no_user_agent(head: RequestHead, _config: WafConfig) -> bool:
    """``NoUserAgent_HEADER`` (Core Rule Set): a missing or empty User-Agent."""
    return not (head.header("user-agent") or "").strip()


_BAD_BOTS = re.compile(
    r"\b(?:sqlmap|nikto|nmap|masscan|acunetix|nessus|zgrab|wpscan|dirbuster|gobuster|nuclei|openvas|w3af|havij"
    r"|netsparker|appscan|arachni|skipfish|wfuzz|ffuf|feroxbuster|dirb|commix|xsser|fimap|jbrofuzz|webinspect"
    r"|paros|zmeu|morfeus|whatweb|metasploit)\b",
    re.IGNORECASE,
)


def _bad_bot(head: RequestHead, _config: WafConfig) -> bool:
    """``UserAgent_BadBots_HEADER`` (Core Rule Set): the User-Agent of a known scanner or attack tool."""
    return _BAD_BOTS.search(head.header("user-agent") or "") is not None


_EXPLOITABLE_PATHS = re.compile(
    r"(?:^|/)(?:web-inf|meta-inf|\.git|\.svn|\.hg|\.bzr|\.aws|\.ssh|\.docker|actuator|cgi-bin|wp-admin"
    r"|wp-login\.php|wp-content|wp-includes|xmlrpc\.php|phpmyadmin|myadmin|server-status|server-info"
    r"|jmx-console|web-console|jolokia|h2-console|boaform|hnap1|phpunit|\.ds_store)(?:/|;|$)"
    r"|(?:^|/)manager/html(?:/|$)|(?:^|/)invoker/(?:jmx|ejb)invokerservlet",
    re.IGNORECASE,
)


def _exploitable_path(head: RequestHead, _config: WafConfig) -> bool:
    """``ExploitablePaths_URIPATH`` (Known Bad Inputs): paths of well-known exploitable applications and
    leaked internals — ``/WEB-INF``, ``/.git/``, Spring ``/actuator``, ``/cgi-bin``, WordPress, phpMyAdmin."""
    return any(_EXPLOITABLE_PATHS.search(text) for text in head.path_texts)


_RESTRICTED_EXTENSIONS = (
    "log|ini|bak|backup|old|orig|save|swp|swo|tmp|conf|config|cfg|env|sql|db|sqlite|sqlite3|mdb|git|svn"
    "|htaccess|htpasswd|passwd|pwd|pem|key|p12|pfx|jks|keystore|properties|inc|dat|asa|asax|ascx|axd|bat|cmd"
    "|cer|csproj|dll|idc|idq|lnk|pdb|pol|rdb|resources|resx|sys|vbs|vbproj|ps1|bash_history|ds_store"
)
_RESTRICTED_EXTENSION = re.compile(rf"\.(?:{_RESTRICTED_EXTENSIONS})(?:;[^/]*)?/?$", re.IGNORECASE)


def _restricted_extension(head: RequestHead, _config: WafConfig) -> bool:
    """``RestrictedExtensions_URIPATH`` (Core Rule Set): a path ending in a system-file extension that clients
    should never read — ``.log``, ``.ini``, ``.bak``, ``.env``, ``.sql``, ``.git``, ``.htaccess``…"""
    return any(_RESTRICTED_EXTENSION.search(text) for text in head.path_texts)


Part = Callable[[RequestHead], Iterable[str]]
Inspector = Callable[[str], bool]


def _path(head: RequestHead) -> Iterable[str]:
    return head.path_texts


def _query_string(head: RequestHead) -> Iterable[str]:
    return head.query_texts


def _query_arguments(head: RequestHead) -> Iterable[str]:
    return head.query_argument_texts


def _headers(head: RequestHead) -> Iterable[str]:
    return head.header_texts


def _cookies(head: RequestHead) -> Iterable[str]:
    return head.cookie_texts


def _content_rule(name: str, inspector: Inspector, part: Part) -> Rule:
    def matches(head: RequestHead, _config: WafConfig) -> bool:
        return any(inspector(text) for text in part(head))

    return Rule(name, matches, inspector.__doc__ or name)


def _rule(name: str, predicate: Predicate) -> Rule:
    return Rule(name, predicate, predicate.__doc__ or name)


HEAD_RULES: tuple[Rule, ...] = (
    # rules on the client, the method, sizes and configuration
    _rule("IPBlockList", _ip_block_list),
    _rule("GeoBlock", _geo_block),
    _rule("PROPFIND_METHOD", _propfind),
    _rule("Host_localhost_HEADER", _localhost_host),
    _rule("SizeRestrictions_URIPATH", _size_uri_path),
    _rule("SizeRestrictions_QUERYSTRING", _size_query),
    _rule("SizeRestrictions_Cookie_HEADER", _size_cookie),
    _rule("NoUserAgent_HEADER", _no_user_agent),
    _rule("UserAgent_BadBots_HEADER", _bad_bot),
    # content rules: pure functions of the path, the query and the header values (see CONTENT_RULES_FROM)
    _content_rule("Log4JRCE_HEADER", is_log4j, _headers),
    _content_rule("Log4JRCE_URIPATH", is_log4j, _path),
    _content_rule("Log4JRCE_QUERYSTRING", is_log4j, _query_string),
    _content_rule("JavaDeserRCE_HEADER", is_java_deserialization, _headers),
    _content_rule("JavaDeserRCE_URIPATH", is_java_deserialization, _path),
    _content_rule("JavaDeserRCE_QUERYSTRING", is_java_deserialization, _query_string),
    _rule("ExploitablePaths_URIPATH", _exploitable_path),
    _rule("RestrictedExtensions_URIPATH", _restricted_extension),
    _content_rule("EC2MetaDataSSRF_URIPATH", is_metadata_ssrf, _path),
    _content_rule("EC2MetaDataSSRF_QUERYARGUMENTS", is_metadata_ssrf, _query_arguments),
    _content_rule("EC2MetaDataSSRF_COOKIE", is_metadata_ssrf, _cookies),
    _content_rule("GenericLFI_URIPATH", is_lfi, _path),
    _content_rule("GenericLFI_QUERYARGUMENTS", is_lfi, _query_arguments),
    _content_rule("GenericRFI_URIPATH", is_rfi, _path),
    _content_rule("GenericRFI_QUERYARGUMENTS", is_rfi, _query_arguments),
    _content_rule("CrossSiteScripting_URIPATH", is_xss, _path),
    _content_rule("CrossSiteScripting_QUERYARGUMENTS", is_xss, _query_arguments),
    _content_rule("CrossSiteScripting_COOKIE", is_xss, _cookies),
)

CONTENT_RULES_FROM = 9
"""``HEAD_RULES[CONTENT_RULES_FROM:]`` read nothing but the path, the query string and the header values —
not the method, the client address or the configuration — so their verdict on a given request head can be
remembered (:func:`_content_verdict`)."""

VERDICT_CACHE_SIZE = 4096
VERDICT_CACHE_MAX_CHARS = 4096
"""Heads of up to this many characters (bearer JWTs excluded) have their content verdict remembered, in at
most ``VERDICT_CACHE_SIZE`` entries (≤ 16 MB): a client repeating its headers — nearly every client — pays the
decoding and the pattern scans once. A head built to miss the cache costs what it would without one."""


def _content_key(head: RequestHead) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """What the content rules read: bearer JWTs are left out, as :attr:`RequestHead.header_texts` leaves
    them out (no content rule can match one), so one client's requests share a key across its tokens."""
    headers = tuple((name, value) for name, value in head.headers if not _BEARER_JWT.fullmatch(value))
    return head.path, head.query_string, headers


@lru_cache(maxsize=VERDICT_CACHE_SIZE)
def _content_verdict(key: tuple[str, str, tuple[tuple[str, str], ...]]) -> str | None:
    path, query_string, headers = key
    head = RequestHead(method="", path=path, query_string=query_string, headers=headers, client_ip="")
    return next((rule.name for rule in HEAD_RULES[CONTENT_RULES_FROM:] if rule.matches(head, WafConfig())), None)


def first_head_match(head: RequestHead, config: WafConfig, rules: Sequence[Rule] = HEAD_RULES) -> str | None:
    """The name of the first rule the request line and headers match, or ``None``."""
    if rules is not HEAD_RULES:
        return next((rule.name for rule in rules if rule.matches(head, config)), None)
    found = next((rule.name for rule in HEAD_RULES[:CONTENT_RULES_FROM] if rule.matches(head, config)), None)
    if found is not None:
        return found
    key = _content_key(head)
    if len(key[0]) + len(key[1]) + sum(len(name) + len(value) for name, value in key[2]) > VERDICT_CACHE_MAX_CHARS:
        return _content_verdict.__wrapped__(key)
    return _content_verdict(key)


# --- body rules --------------------------------------------------------------------------------------------


def is_upload(content_type: str) -> bool:
    """Multipart uploads are exempt from the body rules (as from AWS's 8 KB body inspection); their size cap
    and content checks belong to the upload pipeline."""
    return content_type.strip().lower().startswith("multipart/form-data")


def _json_strings(value: Any) -> Iterator[str]:
    """Every string (keys included) in a decoded JSON document, without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for key, child in item.items():
                yield str(key)
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


def body_texts(body: bytes, content_type: str) -> tuple[str, ...]:
    """The texts to inspect in a body: the string values of a JSON document (the raw text if it does not
    parse), the fields of a form, or the raw text of anything else — each with its URL decodings."""
    text = body.decode("utf-8", errors="replace")
    media = content_type.partition(";")[0].strip().lower()
    strings: list[str]
    plus = False
    if media == "application/x-www-form-urlencoded":
        strings = [item for pair in parse_qsl(text, keep_blank_values=True, errors="replace") for item in pair]
        plus = True
    elif text.lstrip()[:1] in ("{", "[", '"'):
        try:
            strings = list(_json_strings(json.loads(text)))
        except (ValueError, RecursionError):
            strings = [text]
    else:
        strings = [text]
    return _unique(variant for string in strings for variant in decode_variants(string, plus=plus))


BodyInspector = Callable[[bytes, Sequence[str]], bool]


def _texts_rule(inspector: Inspector) -> BodyInspector:
    def matches(_body: bytes, texts: Sequence[str]) -> bool:
        return any(inspector(text) for text in texts)

    return matches


def _java_deser_body(body: bytes, texts: Sequence[str]) -> bool:
    return JAVA_SERIAL_MAGIC in body or any(is_java_deserialization(text) for text in texts)


BODY_RULES: tuple[tuple[str, BodyInspector], ...] = (
    ("Log4JRCE_BODY", _texts_rule(is_log4j)),
    ("JavaDeserRCE_BODY", _java_deser_body),
    ("EC2MetaDataSSRF_BODY", _texts_rule(is_metadata_ssrf)),
    ("GenericLFI_BODY", _texts_rule(is_lfi)),
    ("GenericRFI_BODY", _texts_rule(is_rfi)),
    ("CrossSiteScripting_BODY", _texts_rule(is_xss)),
)

SIZE_RESTRICTIONS_BODY = "SizeRestrictions_BODY"


def first_body_match(body: bytes, content_type: str) -> str | None:
    """The name of the first body rule a (non-upload) body matches, or ``None``."""
    if not body:
        return None
    texts = body_texts(body, content_type)
    return next((name for name, matches in BODY_RULES if matches(body, texts)), None)


RULE_NAMES: tuple[str, ...] = (
    *(rule.name for rule in HEAD_RULES),
    SIZE_RESTRICTIONS_BODY,
    *(name for name, _ in BODY_RULES),
)

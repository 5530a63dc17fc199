"""Lean request models of FHIR R4 Patient and Coverage: what a match request is parsed with.

fhir.resources validated every element of a request through its Python model machinery (a model
instance per element, validators in Python): a tenth of a millisecond per Patient, on every
request. These are plain pydantic models, compiled once, validated in pydantic-core, that keep
what the fhir.resources models refused and where (the error's JSON pointer):

- every element of R4 Patient and Coverage is declared with its cardinality and type; an unknown
  member is refused ("Extra inputs are not permitted"), as FHIR's own models refuse it;
- the primitives use fhir_core's own constraints (the same patterns: string, code, id, uri, date
  and dateTime), so a value is accepted or refused exactly as before, with the same message;
- the datatypes the service reads (HumanName, Identifier, CodeableConcept, Coding, ContactPoint,
  Address, Reference, Period) and Extension are declared element by element; a null inside a list
  of complex elements and two choices of one `[x]` element are refused as fhir_core refuses them;
- the complex elements nobody reads (a contact, a photo, the narrative, contained resources,
  an extension's complex value...) are checked for their shape only: an object, or a list of
  objects. Nothing reads, stores or echoes them.

`tests/fhir/test_lean_parser.py` runs fhir.resources (kept there as the oracle) and these models
over a table of good and bad bodies and compares acceptance, pointers and what is read.
"""

from __future__ import annotations

import datetime
import decimal
from typing import Annotated, Any, ClassVar

from fhir_core.types import (
    Base64Binary,
    Canonical,
    Code,
    Date,
    DateTime,
    Decimal,
    Id,
    Instant,
    Integer,
    Markdown,
    Oid,
    PositiveInt,
    String,
    Time,
    UnsignedInt,
    Uri,
)
from pydantic import (
    Base64Encoder,
    BaseModel,
    ConfigDict,
    EncodedBytes,
    Field,
    create_model,
    model_validator,
)
from pydantic.types import UUID4
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

Str = Annotated[str, String()]
CodeStr = Annotated[str, Code()]
UriStr = Annotated[str, Uri()]
IdStr = Annotated[str, Id()]
FhirDate = Annotated[datetime.date, Date()]
FhirDateTime = Annotated[datetime.datetime, DateTime()]
FhirInstant = Annotated[datetime.datetime, Instant()]
Int = Annotated[int, Integer(min_length=-2147483648, max_length=2147483647)]
PosInt = Annotated[int, PositiveInt(min_length=1, max_length=2147483647)]
Obj = dict[str, Any]  # a complex element we do not read: its shape only
Comments = str | list[str] | None


def _missing(alias: str) -> InitErrorDetails:
    return {
        "type": PydanticCustomError(
            "model_field_validation.missing",
            "Value for the field '{field_name}' is required.",
            {"field_name": alias},
        ),
        "loc": (alias,),
        "input": None,
    }


def _has_extensions(ext: Any) -> bool:
    return bool(ext is not None and ext.extension)


class Element(BaseModel):
    """What every FHIR element and resource model shares: unknown members refused. A field is
    reached by its JSON name only (fhir_core also took its Python name, `birthDate__ext`, which
    is no FHIR name and cost a second lookup per field). No Python validator runs per element:
    a null inside a list of complex elements is reported as fhir_core reports it by `errors`
    below, after pydantic-core's pass."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fhir_comments: Comments = None


class Checked(Element):
    """An element with primitives of cardinality 1 or `[x]` choices, checked after its fields
    validated (as fhir_core checks them)."""

    # Primitives of cardinality 1: (field, JSON name); present, or explained by extensions.
    required_primitives: ClassVar[tuple[tuple[str, str], ...]] = ()
    # Choice elements: each is the list of its typed names.
    choices: ClassVar[tuple[tuple[str, ...], ...]] = ()

    @model_validator(mode="after")
    def _required_and_one_choice(self) -> Checked:
        missing: list[InitErrorDetails] = [
            _missing(alias)
            for name, alias in self.required_primitives
            if getattr(self, name) is None
            and not _has_extensions(getattr(self, name + "__ext", None))
        ]
        if missing:
            raise ValidationError.from_exception_data(type(self).__name__, missing)
        present = self.model_fields_set
        for names in self.choices:
            if sum(getattr(self, n) is not None for n in present.intersection(names)) > 1:
                raise ValueError(
                    f"Any of one field value is expected from this list {list(names)}, "
                    "but got multiple!"
                )
        return self


_NOT_AN_OBJECT = frozenset({"model_type", "dict_type"})


def errors(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic's errors, with a null inside a list of complex elements reported once at the
    list, in fhir_core's words; as fhir_core refuses such a null before looking at anything else
    of the element holding the list, that element's other errors are not reported."""
    found: list[dict[str, Any]] = [dict(err) for err in exc.errors(include_input=True)]
    nulls: dict[tuple[Any, ...], dict[str, Any]] = {}
    for err in found:
        loc: tuple[Any, ...] = tuple(err["loc"])
        if (
            err["type"] in _NOT_AN_OBJECT
            and err.get("input", 0) is None
            and len(loc) >= 2
            and isinstance(loc[-1], int)
            and isinstance(loc[-2], str)
        ):
            message = f"None is not allowed as an element of {loc[-2]}"
            nulls.setdefault(loc[:-1], {"loc": loc[:-1], "msg": message, "input": None})
    if not nulls:
        return found
    holders = {loc[:-1] for loc in nulls}  # the elements whose lists hold a null

    def inside(loc: tuple[Any, ...], strictly: bool) -> bool:
        return any(loc[: len(h)] == h and (len(loc) > len(h) or not strictly) for h in holders)

    kept = [err for err in found if not inside(tuple(err["loc"]), strictly=False)]
    return [*kept, *(err for loc, err in nulls.items() if not inside(loc[:-1], strictly=True))]


def _ext(name: str) -> Any:
    """The `_name` sibling carrying a primitive's id and extensions."""
    return Field(default=None, alias=f"_{name}")


class PrimitiveExt(Element):
    """A primitive's `_name` sibling: its id and extensions (at least one of them)."""

    id: Str | None = None
    extension: Extensions = None

    @model_validator(mode="before")
    @classmethod
    def _something(cls, data: Any) -> Any:
        if isinstance(data, dict) and all(
            data.get(k) is None for k in ("id", "extension", "fhir_comments")
        ):
            raise PydanticCustomError(
                "model_validation_format", "One of field value is required.", {}
            )
        return data


class Extension(Checked):
    """url required; value[x] by its declared names (complex values: their shape only)."""

    id: Str | None = None
    extension: Extensions = None
    url: UriStr | None = None  # no `_url`: fhir.resources refuses one
    required_primitives: ClassVar[tuple[tuple[str, str], ...]] = (("url", "url"),)


# Extension.value[x]: FHIR R4's 51 types; primitives keep their constraints.
_PRIMITIVE_VALUES: dict[str, Any] = {
    "Base64Binary": Annotated[bytes, EncodedBytes(encoder=Base64Encoder), Base64Binary()],
    "Boolean": bool,
    "Canonical": Annotated[str, Canonical()],  # type: ignore[call-arg]
    "Code": CodeStr,
    "Date": FhirDate,
    "DateTime": FhirDateTime,
    "Decimal": Annotated[decimal.Decimal, Decimal()],
    "Id": IdStr,
    "Instant": FhirInstant,
    "Integer": Int,
    "Markdown": Annotated[str, Markdown()],  # type: ignore[call-arg]
    "Oid": Annotated[str, Oid()],  # type: ignore[call-arg]
    "PositiveInt": PosInt,
    "String": Str,
    "Time": Annotated[datetime.time, Time()],
    "UnsignedInt": Annotated[int, UnsignedInt(min_length=0, max_length=2147483647)],
    "Uri": UriStr,
    "Url": UriStr,  # fhir_core's Url fails on a non-string (an AttributeError: a 500)
    "Uuid": UUID4,
}
_COMPLEX_VALUES = [
    "Address",
    "Age",
    "Annotation",
    "Attachment",
    "CodeableConcept",
    "CodeableReference",
    "Coding",
    "ContactDetail",
    "ContactPoint",
    "Contributor",
    "Count",
    "DataRequirement",
    "Distance",
    "Dosage",
    "Duration",
    "Expression",
    "HumanName",
    "Identifier",
    "Money",
    "ParameterDefinition",
    "Period",
    "Quantity",
    "Range",
    "Ratio",
    "RatioRange",
    "Reference",
    "RelatedArtifact",
    "SampledData",
    "Signature",
    "Timing",
    "TriggerDefinition",
    "UsageContext",
]
EXTENSION_VALUE_TYPES = tuple(sorted([*_PRIMITIVE_VALUES, *_COMPLEX_VALUES]))


def _extension_model() -> type[Element]:
    fields: dict[str, Any] = {}
    for kind in _PRIMITIVE_VALUES:
        fields[f"value{kind}"] = (_PRIMITIVE_VALUES[kind] | None, None)
        fields[f"value{kind}__ext"] = (PrimitiveExt | None, _ext(f"value{kind}"))
    for kind in _COMPLEX_VALUES:
        fields[f"value{kind}"] = (Obj | None, None)
    model = create_model("Extension", __base__=Extension, **fields)
    model.choices = (tuple(f"value{k}" for k in EXTENSION_VALUE_TYPES),)
    return model


FullExtension = _extension_model()
Extensions = list[FullExtension] | None  # type: ignore[valid-type]


class Coding(Element):
    id: Str | None = None
    extension: Extensions = None
    system: UriStr | None = None
    system__ext: PrimitiveExt | None = _ext("system")
    version: Str | None = None
    version__ext: PrimitiveExt | None = _ext("version")
    code: CodeStr | None = None
    code__ext: PrimitiveExt | None = _ext("code")
    display: Str | None = None
    display__ext: PrimitiveExt | None = _ext("display")
    userSelected: bool | None = None
    userSelected__ext: PrimitiveExt | None = _ext("userSelected")


class CodeableConcept(Element):
    id: Str | None = None
    extension: Extensions = None
    coding: list[Coding] | None = None
    text: Str | None = None
    text__ext: PrimitiveExt | None = _ext("text")


class Period(Element):
    id: Str | None = None
    extension: Extensions = None
    start: FhirDateTime | None = None
    start__ext: PrimitiveExt | None = _ext("start")
    end: FhirDateTime | None = None
    end__ext: PrimitiveExt | None = _ext("end")


class Identifier(Element):
    id: Str | None = None
    extension: Extensions = None
    use: CodeStr | None = None
    use__ext: PrimitiveExt | None = _ext("use")
    type: CodeableConcept | None = None
    system: UriStr | None = None
    system__ext: PrimitiveExt | None = _ext("system")
    value: Str | None = None
    value__ext: PrimitiveExt | None = _ext("value")
    period: Period | None = None
    assigner: Reference | None = None


class Reference(Element):
    id: Str | None = None
    extension: Extensions = None
    reference: Str | None = None
    reference__ext: PrimitiveExt | None = _ext("reference")
    type: UriStr | None = None
    type__ext: PrimitiveExt | None = _ext("type")
    identifier: Identifier | None = None
    display: Str | None = None
    display__ext: PrimitiveExt | None = _ext("display")


StrList = list[Str | None] | None
ExtList = list[PrimitiveExt | None] | None


class HumanName(Element):
    id: Str | None = None
    extension: Extensions = None
    use: CodeStr | None = None
    use__ext: PrimitiveExt | None = _ext("use")
    text: Str | None = None
    text__ext: PrimitiveExt | None = _ext("text")
    family: Str | None = None
    family__ext: PrimitiveExt | None = _ext("family")
    given: StrList = None
    given__ext: ExtList = _ext("given")
    prefix: StrList = None
    prefix__ext: ExtList = _ext("prefix")
    suffix: StrList = None
    suffix__ext: ExtList = _ext("suffix")
    period: Period | None = None


class ContactPoint(Element):
    id: Str | None = None
    extension: Extensions = None
    system: CodeStr | None = None
    system__ext: PrimitiveExt | None = _ext("system")
    value: Str | None = None
    value__ext: PrimitiveExt | None = _ext("value")
    use: CodeStr | None = None
    use__ext: PrimitiveExt | None = _ext("use")
    rank: PosInt | None = None
    rank__ext: PrimitiveExt | None = _ext("rank")
    period: Period | None = None


class Address(Element):
    id: Str | None = None
    extension: Extensions = None
    use: CodeStr | None = None
    use__ext: PrimitiveExt | None = _ext("use")
    type: CodeStr | None = None
    type__ext: PrimitiveExt | None = _ext("type")
    text: Str | None = None
    text__ext: PrimitiveExt | None = _ext("text")
    line: StrList = None
    line__ext: ExtList = _ext("line")
    city: Str | None = None
    city__ext: PrimitiveExt | None = _ext("city")
    district: Str | None = None
    district__ext: PrimitiveExt | None = _ext("district")
    state: Str | None = None
    state__ext: PrimitiveExt | None = _ext("state")
    postalCode: Str | None = None
    postalCode__ext: PrimitiveExt | None = _ext("postalCode")
    country: Str | None = None
    country__ext: PrimitiveExt | None = _ext("country")
    period: Period | None = None


class Meta(Element):
    id: Str | None = None
    extension: Extensions = None
    versionId: IdStr | None = None
    versionId__ext: PrimitiveExt | None = _ext("versionId")
    lastUpdated: FhirInstant | None = None
    lastUpdated__ext: PrimitiveExt | None = _ext("lastUpdated")
    source: UriStr | None = None
    source__ext: PrimitiveExt | None = _ext("source")
    profile: list[UriStr | None] | None = None
    profile__ext: ExtList = _ext("profile")
    security: list[Coding] | None = None
    tag: list[Coding] | None = None


class Narrative(Checked):
    id: Str | None = None
    extension: Extensions = None
    status: CodeStr | None = None
    status__ext: PrimitiveExt | None = _ext("status")
    div: str | None = None  # xhtml; not read
    div__ext: PrimitiveExt | None = _ext("div")
    required_primitives: ClassVar[tuple[tuple[str, str], ...]] = (
        ("div", "div"),
        ("status", "status"),
    )


class BackboneElement(Element):
    id: Str | None = None
    extension: Extensions = None
    modifierExtension: Extensions = None


class PatientContact(BackboneElement):
    relationship: list[CodeableConcept] | None = None
    name: HumanName | None = None
    telecom: list[ContactPoint] | None = None
    address: Address | None = None
    gender: CodeStr | None = None
    gender__ext: PrimitiveExt | None = _ext("gender")
    organization: Reference | None = None
    period: Period | None = None


class PatientCommunication(BackboneElement):
    language: CodeableConcept | None  # required; fhir.resources took a null
    preferred: bool | None = None
    preferred__ext: PrimitiveExt | None = _ext("preferred")


class PatientLink(BackboneElement, Checked):
    other: Reference | None  # required; fhir.resources took a null
    type: CodeStr | None = None
    type__ext: PrimitiveExt | None = _ext("type")
    required_primitives: ClassVar[tuple[tuple[str, str], ...]] = (("type", "type"),)


class CoverageClass(BackboneElement, Checked):
    type: CodeableConcept | None  # required; fhir.resources took a null
    value: Str | None = None
    value__ext: PrimitiveExt | None = _ext("value")
    name: Str | None = None
    name__ext: PrimitiveExt | None = _ext("name")
    required_primitives: ClassVar[tuple[tuple[str, str], ...]] = (("value", "value"),)


class Resource(Element):
    """DomainResource's elements. `resourceType` is the caller's to check (it chose the model)."""

    resourceType: str | None = None
    id: IdStr | None = None
    meta: Meta | None = None
    implicitRules: UriStr | None = None
    implicitRules__ext: PrimitiveExt | None = _ext("implicitRules")
    language: CodeStr | None = None
    language__ext: PrimitiveExt | None = _ext("language")
    text: Narrative | None = None
    contained: list[Obj] | None = None
    extension: Extensions = None
    modifierExtension: Extensions = None


class Patient(Resource, Checked):
    identifier: list[Identifier] | None = None
    active: bool | None = None
    active__ext: PrimitiveExt | None = _ext("active")
    name: list[HumanName] | None = None
    telecom: list[ContactPoint] | None = None
    gender: CodeStr | None = None
    gender__ext: PrimitiveExt | None = _ext("gender")
    birthDate: FhirDate | None = None
    birthDate__ext: PrimitiveExt | None = _ext("birthDate")
    deceasedBoolean: bool | None = None
    deceasedBoolean__ext: PrimitiveExt | None = _ext("deceasedBoolean")
    deceasedDateTime: FhirDateTime | None = None
    deceasedDateTime__ext: PrimitiveExt | None = _ext("deceasedDateTime")
    address: list[Address] | None = None
    maritalStatus: CodeableConcept | None = None
    multipleBirthBoolean: bool | None = None
    multipleBirthBoolean__ext: PrimitiveExt | None = _ext("multipleBirthBoolean")
    multipleBirthInteger: Int | None = None
    multipleBirthInteger__ext: PrimitiveExt | None = _ext("multipleBirthInteger")
    photo: list[Obj] | None = None
    contact: list[PatientContact] | None = None
    communication: list[PatientCommunication] | None = None
    generalPractitioner: list[Reference] | None = None
    managingOrganization: Reference | None = None
    link: list[PatientLink] | None = None
    choices: ClassVar[tuple[tuple[str, ...], ...]] = (
        ("deceasedBoolean", "deceasedDateTime"),
        ("multipleBirthBoolean", "multipleBirthInteger"),
    )


class Coverage(Resource, Checked):
    identifier: list[Identifier] | None = None
    status: CodeStr | None = None
    status__ext: PrimitiveExt | None = _ext("status")
    type: CodeableConcept | None = None
    policyHolder: Reference | None = None
    subscriber: Reference | None = None
    subscriberId: Str | None = None
    subscriberId__ext: PrimitiveExt | None = _ext("subscriberId")
    beneficiary: Reference | None  # required; fhir.resources took a null
    dependent: Str | None = None
    dependent__ext: PrimitiveExt | None = _ext("dependent")
    relationship: CodeableConcept | None = None
    period: Period | None = None
    payor: list[Reference]
    class_fhir: list[CoverageClass] | None = Field(default=None, alias="class")
    order: PosInt | None = None
    order__ext: PrimitiveExt | None = _ext("order")
    network: Str | None = None
    network__ext: PrimitiveExt | None = _ext("network")
    costToBeneficiary: list[Obj] | None = None
    subrogation: bool | None = None
    subrogation__ext: PrimitiveExt | None = _ext("subrogation")
    contract: list[Reference] | None = None
    required_primitives: ClassVar[tuple[tuple[str, str], ...]] = (("status", "status"),)

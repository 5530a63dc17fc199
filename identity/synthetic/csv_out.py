"""The member master as CSV (`members.csv`): one row per member, UTF-8, "\n" line ends.

Header (exactly, in this order), content, and the FHIR R4 element of members.ndjson each column
mirrors; an empty cell means the value is missing:

| column          | content                                 | FHIR R4                              |
|-----------------|-----------------------------------------|--------------------------------------|
| member_id       | "M" + 9 digits, unique                  | Patient.identifier, type MB          |
| given           | first given name                        | Patient.name[official].given[0]      |
| middle          | middle name                             | Patient.name[official].given[1]      |
| family          | family name: may be compound ("Garcia   | Patient.name[official].family        |
|                 | Lopez"), hyphenated, accented, O'Brien  |                                      |
| suffix          | Jr, Sr, II                              | Patient.name[official].suffix[0]     |
| previous_family | earlier (maiden) family name, if known  | Patient.name[maiden or old].family   |
| birth_date      | YYYY-MM-DD                              | Patient.birthDate                    |
| sex             | male, female or unknown                 | Patient.gender                       |
| ssn             | nine digits, no dashes                  | Patient.identifier, system us-ssn    |
| phone           | E.164, e.g. +12125550123                | Patient.telecom[phone].value         |
| email           | e-mail address                          | Patient.telecom[email].value         |
| address_line1   | street address                          | Patient.address[0].line[0]           |
| address_line2   | apartment / unit                        | Patient.address[0].line[1]           |
| city            | city                                    | Patient.address[0].city              |
| state           | USPS state abbreviation                 | Patient.address[0].state             |
| zip             | ZIP5                                    | Patient.address[0].postalCode        |
| subscriber_id   | "S" + 10 digits, shared by a household  | Coverage.subscriberId                |
| relationship    | self, spouse or child                   | Coverage.relationship (code)         |
| coverage_start  | YYYY-MM-DD                              | Coverage.period.start                |
| coverage_end    | YYYY-MM-DD                              | Coverage.period.end                  |
| payor           | payor display name                      | Coverage.payor[0].display            |
| active          | true: every generated member is current | Patient.active (absent means true)   |

Member id system: urn:identity:sample-payer:member-id; SSN system: http://hl7.org/fhir/sid/us-ssn;
relationship codes: http://terminology.hl7.org/CodeSystem/subscriber-relationship.
"""

from __future__ import annotations

from identity.member.sources import CSV_COLUMNS
from identity.synthetic.model import SyntheticMember

# The loader's documented columns: what the generator writes is what `members load` reads.
CSV_HEADER: tuple[str, ...] = tuple(CSV_COLUMNS)


def csv_row(member: SyntheticMember) -> tuple[str, ...]:
    p, a, c = member.person, member.person.address, member.coverage
    return (
        member.member_id,
        p.given,
        p.middle or "",
        p.family,
        p.suffix or "",
        p.previous_family or "",
        p.birth_date.isoformat(),
        p.sex,
        p.ssn or "",
        p.phone or "",
        p.email or "",
        a.line1,
        a.line2 or "",
        a.city,
        a.state,
        a.zip,
        c.subscriber_id,
        c.relationship,
        c.start.isoformat(),
        c.end.isoformat() if c.end else "",
        c.payor,
        "true",  # `active`: every generated member is enrolled (leavers are not modelled)
    )

"""Common US diminutives of given names, written for the generator from everyday usage.

The `nicknames` package misses many short forms Americans actually use on forms (Suzy for Susan,
Barb for Barbara, Maddie for Madison, Jerry for Jeremy). This table is the generator's own,
compiled by hand for this project from common American usage (not copied from the matcher's
sources), so the benchmark measures whether the matcher knows these names rather than grading it
against its own list. Only forms in everyday use are listed: rare ones (Topher, Bex) and short
forms that are mostly given names of their own (Liam, Jay, Anita) are left out, as a matcher is
right not to equate them. People write the long form on one form and the short one on the next,
so the relation is used both ways.
"""

from __future__ import annotations

from functools import lru_cache

from identity.synthetic.names import fold_accents

# formal name -> short forms people go by
DIMINUTIVES: dict[str, tuple[str, ...]] = {
    # women
    "Abigail": ("Abby", "Abbie", "Gail"),
    "Alexandra": ("Alex", "Lexi", "Sandy", "Alexa"),
    "Alexis": ("Lexi", "Lex"),
    "Alicia": ("Ali",),
    "Allison": ("Ally", "Allie", "Ali"),
    "Alison": ("Ally", "Allie", "Ali"),
    "Amanda": ("Mandy", "Manda"),
    "Anastasia": ("Stacy", "Ana"),
    "Andrea": ("Andi", "Andie"),
    "Angela": ("Angie",),
    "Barbara": ("Barb", "Barbie", "Babs"),
    "Beverly": ("Bev",),
    "Brianna": ("Bri", "Bree"),
    "Brittany": ("Britt", "Brit"),
    "Caitlin": ("Katie", "Cait"),
    "Caroline": ("Carrie", "Carly"),
    "Carolyn": ("Carrie", "Lynn"),
    "Cassandra": ("Cassie", "Sandy"),
    "Catherine": ("Cathy", "Cat", "Cate", "Katie"),
    "Charlotte": ("Charlie", "Lottie"),
    "Christina": ("Chris", "Chrissy", "Tina", "Christy"),
    "Christine": ("Chris", "Chrissy", "Tina"),
    "Cynthia": ("Cindy",),
    "Danielle": ("Dani", "Elle"),
    "Deborah": ("Deb", "Debbie"),
    "Debra": ("Deb", "Debbie"),
    "Dorothy": ("Dot", "Dottie"),
    "Eleanor": ("Ellie", "Nora", "Nell"),
    "Elizabeth": ("Liz", "Beth", "Betsy", "Lizzie", "Libby", "Eliza", "Ellie", "Liza"),
    "Emily": ("Em", "Emmy", "Emmie", "Millie"),
    "Evelyn": ("Evie",),
    "Frances": ("Fran", "Frannie"),
    "Gabriela": ("Gabby", "Gabi"),
    "Gabrielle": ("Gabby", "Gabi", "Elle"),
    "Gwendolyn": ("Gwen",),
    "Isabel": ("Izzy", "Bella"),
    "Isabella": ("Izzy", "Bella"),
    "Jacqueline": ("Jackie",),
    "Janet": ("Jan",),
    "Jennifer": ("Jen", "Jenny", "Jenn"),
    "Jessica": ("Jess", "Jessie"),
    "Jillian": ("Jill",),
    "Josephine": ("Jo", "Josie"),
    "Judith": ("Judy",),
    "Kaitlyn": ("Katie", "Kait"),
    "Kathleen": ("Kathy", "Kate", "Katie"),
    "Katherine": ("Kathy", "Kate", "Katie", "Kat"),
    "Kathryn": ("Kathy", "Kate", "Katie"),
    "Kimberly": ("Kim", "Kimmy"),
    "Kristen": ("Kris", "Krissy"),
    "Kristina": ("Kris", "Krissy", "Tina"),
    "Lillian": ("Lily", "Lil"),
    "Lorraine": ("Lori",),
    "Mackenzie": ("Kenzie", "Mack"),
    "Madeline": ("Maddie", "Maddy"),
    "Madelyn": ("Maddie", "Maddy"),
    "Madison": ("Maddie", "Maddy"),
    "Margaret": ("Maggie", "Meg", "Peggy", "Margie"),
    "Julia": ("Jules", "Julie"),
    "Julie": ("Jules",),
    "Laura": ("Laurie",),
    "Mary": ("Molly", "Mae", "Mamie"),
    "Megan": ("Meg", "Meggie"),
    "Melanie": ("Mel",),
    "Melissa": ("Missy", "Mel"),
    "Michelle": ("Shelly", "Shell", "Chelle"),
    "Natalie": ("Nat",),
    "Nicole": ("Nikki", "Nicki", "Nic"),
    "Olivia": ("Liv", "Livvy"),
    "Ashley": ("Ash",),
    "Pamela": ("Pam",),
    "Patricia": ("Patty", "Pat", "Trish", "Tricia", "Patsy"),
    "Penelope": ("Penny",),
    "Rebecca": ("Becky", "Becca"),
    "Rachel": ("Rach",),
    "Samantha": ("Sam", "Sammy", "Sammie", "Sami"),
    "Sandra": ("Sandy",),
    "Stephanie": ("Steph", "Stevie", "Stephie"),
    "Susan": ("Sue", "Susie", "Suzy"),
    "Suzanne": ("Sue", "Suzy"),
    "Tabitha": ("Tabby",),
    "Tamara": ("Tammy",),
    "Theresa": ("Terri", "Tess", "Tessa"),
    "Teresa": ("Terri", "Tess"),
    "Tiffany": ("Tiff",),
    "Valerie": ("Val",),
    "Veronica": ("Ronnie",),
    "Victoria": ("Vicky", "Tori"),
    "Virginia": ("Ginny", "Ginger"),
    # men
    "Alexander": ("Alex", "Xander", "Al"),
    "Andrew": ("Andy", "Drew"),
    "Anthony": ("Tony",),
    "Benjamin": ("Ben", "Benny"),
    "Bradley": ("Brad",),
    "Cameron": ("Cam",),
    "Charles": ("Charlie", "Chuck", "Chaz"),
    "Christopher": ("Chris",),
    "Daniel": ("Dan", "Danny"),
    "David": ("Dave", "Davey"),
    "Dominic": ("Dom",),
    "Donald": ("Don", "Donnie"),
    "Douglas": ("Doug",),
    "Edward": ("Ed", "Eddie", "Ted"),
    "Frederick": ("Fred", "Freddie"),
    "Gabriel": ("Gabe",),
    "Gerald": ("Jerry", "Gerry"),
    "Gregory": ("Greg",),
    "Harold": ("Hal", "Harry"),
    "Henry": ("Hank",),
    "Jacob": ("Jake",),
    "James": ("Jim", "Jimmy", "Jamie"),
    "Jeffrey": ("Jeff",),
    "Jeremy": ("Jerry",),
    "Jonathan": ("Jon", "Jonny", "Johnny"),
    "Joseph": ("Joe", "Joey"),
    "Joshua": ("Josh",),
    "Kenneth": ("Ken", "Kenny"),
    "Lawrence": ("Larry",),
    "Leonard": ("Len", "Lenny"),
    "Matthew": ("Matt", "Matty"),
    "Michael": ("Mike", "Mikey", "Mick"),
    "Mitchell": ("Mitch",),
    "Nathan": ("Nate",),
    "Nathaniel": ("Nate", "Nat"),
    "Nicholas": ("Nick", "Nicky", "Nico"),
    "Patrick": ("Pat", "Paddy"),
    "Peter": ("Pete",),
    "Phillip": ("Phil",),
    "Philip": ("Phil",),
    "Raymond": ("Ray",),
    "Richard": ("Rick", "Rich", "Ricky", "Richie", "Dick"),
    "Robert": ("Rob", "Bob", "Bobby", "Robby", "Robbie"),
    "Ronald": ("Ron", "Ronnie"),
    "Samuel": ("Sam", "Sammy"),
    "Stephen": ("Steve", "Stevie"),
    "Steven": ("Steve", "Stevie"),
    "Theodore": ("Ted", "Teddy", "Theo"),
    "Thomas": ("Tom", "Tommy"),
    "Timothy": ("Tim", "Timmy"),
    "Vincent": ("Vince", "Vinny"),
    "Walter": ("Walt",),
    "William": ("Bill", "Will", "Billy", "Willie"),
    "Zachary": ("Zach", "Zack"),
    # Spanish-language diminutives, and the English forms some people use on US forms
    "Alberto": ("Beto",),
    "Eduardo": ("Lalo",),
    "Francisco": ("Paco", "Pancho"),
    "Guadalupe": ("Lupe", "Lupita"),
    "Ignacio": ("Nacho",),
    "Maria": ("Mari",),
    "Pedro": ("Pete",),
    "Miguel": ("Mike",),
    "Jesus": ("Chuy",),
    "Jose": ("Pepe", "Joe"),
    "Manuel": ("Manny",),
    "Roberto": ("Beto",),
}


@lru_cache(maxsize=1)
def _both_ways() -> dict[str, tuple[str, ...]]:
    """Accent-folded, upper-case name -> every other form it is written as (either direction)."""
    related: dict[str, set[str]] = {}
    for formal, shorts in DIMINUTIVES.items():
        for short in shorts:
            related.setdefault(formal.upper(), set()).add(short)
            related.setdefault(short.upper(), set()).add(formal)
    return {k: tuple(sorted(v)) for k, v in related.items()}


def diminutives_of(given: str) -> tuple[str, ...]:
    """The short forms of a formal name, or the formal names of a short one; sorted."""
    key = fold_accents(given).upper()
    return tuple(f for f in _both_ways().get(key, ()) if f.upper() != key)


@lru_cache(maxsize=1)
def _namer() -> object:
    from nicknames import NickNamer

    return NickNamer()


@lru_cache(maxsize=8192)
def _package_family(name: str) -> frozenset[str]:
    """The name, the formal names it is a nickname of, and its own nicknames, per the package."""
    plain = fold_accents(name).lower()
    namer = _namer()
    canon = namer.canonicals_of(plain)  # type: ignore[attr-defined]
    nicks = namer.nicknames_of(plain)  # type: ignore[attr-defined]
    return frozenset({plain, *canon, *nicks})


def package_knows(a: str, b: str) -> bool:
    """Whether the `nicknames` package alone relates the two names (one is the other's nickname
    or both are nicknames of one formal name): an ordinary nickname rather than a gap."""
    plain_a, plain_b = fold_accents(a).lower(), fold_accents(b).lower()
    namer = _namer()
    canon_a = {plain_a, *namer.canonicals_of(plain_a)}  # type: ignore[attr-defined]
    canon_b = {plain_b, *namer.canonicals_of(plain_b)}  # type: ignore[attr-defined]
    return plain_b in _package_family(a) or plain_a in _package_family(b) or bool(canon_a & canon_b)

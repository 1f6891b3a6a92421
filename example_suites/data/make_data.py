"""Write arithmetic.jsonl and facts_mc.csv: the example suites' data, written for this project.

    python example_suites/data/make_data.py     # rewrites both files beside this script

Big enough for a paired regression gate to see a real fall (docs/gates.md: a suite of a few dozen
items can only call a fall `underpowered`), and easy enough that the embedded 135M model answers a
fair share, since a gate sees a fall only in answers that were right before. Every answer is computed
or checkably true: word problems with their <<a+b=c>> chains evaluated here (the numeric variants
replay them), and multiple-choice facts that are arithmetic, unit conversions, the calendar, the
alphabet, or from the short lists below. The hand-written rows of the first versions come first,
so their item ids keep their meaning. Seeded: a rerun writes the same bytes (a test checks it).
"""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 2026
ARITHMETIC_ITEMS = 64  # x 4 with the 3 numeric variants each: 256 paired items in the gate
FACTS_ITEMS = 200

FIRST_ARITHMETIC = [  # the suite's first rows, written by hand
    ("Tom has 3 apples. His friend gives him 4 more apples. How many apples does Tom have now?",
     "Tom starts with 3 apples and gets 4 more, so he has 3+4=<<3+4=7>>7 apples.\n#### 7"),
    ("A box holds 6 pencils. How many pencils are in 5 boxes?",
     "Each box holds 6 pencils, so 5 boxes hold 5*6=<<5*6=30>>30 pencils.\n#### 30"),
    ("Sara had 20 stickers and gave 8 of them to her brother. How many stickers does Sara have left?",
     "She has 20-8=<<20-8=12>>12 stickers left.\n#### 12"),
    ("A baker makes 12 muffins and puts them equally into 3 bags. How many muffins are in each bag?",
     "Each bag gets 12/3=<<12/3=4>>4 muffins.\n#### 4"),
    ("There are 9 birds on a fence. 2 birds fly away. How many birds are left on the fence?",
     "9-2=<<9-2=7>>7 birds are left.\n#### 7"),
    ("A pack of juice has 4 bottles. Mia buys 2 packs and drinks 3 bottles. How many bottles does she have left?",
     "She buys 2*4=<<2*4=8>>8 bottles and has 8-3=<<8-3=5>>5 left.\n#### 5"),
    ("Leo reads 10 pages every day. How many pages does he read in 7 days?",
     "He reads 10*7=<<10*7=70>>70 pages.\n#### 70"),
    ("A farmer has 15 cows and buys 10 more. How many cows does the farmer have?",
     "15+10=<<15+10=25>>25 cows.\n#### 25"),
    ("Ana has 2 dollars. She earns 5 dollars on Monday and 3 dollars on Tuesday. How many dollars does she have now?",
     "2+5+3=<<2+5+3=10>>10 dollars.\n#### 10"),
    ("A class of 24 students splits into teams of 6. How many teams are there?",
     "24/6=<<24/6=4>>4 teams.\n#### 4"),
    ("A ticket costs 8 dollars. How much do 3 tickets cost, in dollars?",
     "3*8=<<3*8=24>>24 dollars.\n#### 24"),
    ("Ben has 50 marbles. He loses 5 marbles and then finds 10. How many marbles does he have?",
     "50-5=<<50-5=45>>45, then 45+10=<<45+10=55>>55 marbles.\n#### 55"),
]

NAMES = [("Tom", "he"), ("Sara", "she"), ("Leo", "he"), ("Mia", "she"), ("Ben", "he"), ("Ana", "she"),
         ("Sam", "he"), ("Lily", "she"), ("Max", "he"), ("Emma", "she"), ("Omar", "he"), ("Zoe", "she")]
THINGS = ["apples", "pencils", "stickers", "marbles", "books", "cookies", "shells", "cards", "balloons", "stamps",
          "toy cars", "oranges", "flowers", "coins", "crayons", "buttons"]
CONTAINERS = [("box", "boxes"), ("bag", "bags"), ("basket", "baskets"), ("jar", "jars"), ("tray", "trays")]

# (question, expression, solution): a, b, c are drawn per item, {calc} is the expression with its
# <<expression=result>> annotation and result; a division is asked as its product, so it comes out whole.
ARITHMETIC_TEMPLATES = [
    ("{name} has {a} {things}. {He} gets {b} more {things}. How many {things} does {name} have now?",
     "{a}+{b}", "{name} has {calc} {things}."),
    ("{name} had {a} {things} and gave {b} of them to a friend. How many {things} does {name} have left?",
     "{a}-{b}", "{name} has {calc} {things} left."),
    ("A {box} holds {a} {things}. How many {things} are in {b} {boxes}?",
     "{b}*{a}", "{b} {boxes} hold {calc} {things}."),
    ("{name} found {a} {things} in the morning and {b} {things} in the afternoon. "
     "How many {things} did {he} find in all?", "{a}+{b}", "{name} found {calc} {things}."),
    ("There are {a} {things} on a table. {name} takes {b} of them. How many {things} are still on the table?",
     "{a}-{b}", "{calc} {things} are still there."),
    ("{name} puts {ab} {things} equally into {b} {boxes}. How many {things} go in each {box}?",
     "{ab}/{b}", "Each {box} gets {calc} {things}."),
    ("One {thing} costs {a} dollars. How much do {b} {things} cost, in dollars?",
     "{b}*{a}", "{b} {things} cost {calc} dollars."),
    ("{name} has {a} {things}, buys {b} more and then gives {c} away. How many {things} does {name} have now?",
     "{a}+{b}-{c}", "{name} has {calc} {things}."),
]


def arithmetic_rows(rng: random.Random) -> list[dict]:
    """The first rows, then word problems drawn from the templates in turn until ARITHMETIC_ITEMS."""
    rows = [{"question": q, "answer": a} for q, a in FIRST_ARITHMETIC]
    seen = {row["question"] for row in rows}
    while len(rows) < ARITHMETIC_ITEMS:
        question, expression, solution = ARITHMETIC_TEMPLATES[len(rows) % len(ARITHMETIC_TEMPLATES)]
        (name, he), things, (box, boxes) = rng.choice(NAMES), rng.choice(THINGS), rng.choice(CONTAINERS)
        a, b, c = rng.randint(3, 12), rng.randint(2, 6), rng.randint(2, 4)
        if "-" in expression:
            a = max(a, b + c + 2)  # every count stays positive
        if "*" in expression or "/" in expression:
            a, b = rng.randint(3, 8), rng.randint(2, 4)  # small tables: a 135M model still gets some right
        values = {"name": name, "he": he, "He": he.capitalize(), "things": things, "thing": things[:-1],
                  "box": box, "boxes": boxes, "a": a, "b": b, "c": c, "ab": a * b}
        text = question.format(**values)
        if text in seen:
            continue
        seen.add(text)
        expr = expression.format(**values)
        result = int(eval(expr, {"__builtins__": {}}))  # noqa: S307: our own template over small whole numbers
        answer = solution.format(**values, calc=f"{expr}=<<{expr}={result}>>{result}")
        rows.append({"question": text, "answer": f"{answer}\n#### {result}"})
    return rows


FIRST_FACTS = [  # the suite's first rows, written by hand: question, four choices, the right one's index
    ("What is the capital of France?", "Berlin", "Madrid", "Paris", "Rome", 2),
    ("How many days are in a week?", "five", "six", "seven", "eight", 2),
    ("Which animal is known for saying 'moo'?", "cow", "cat", "duck", "dog", 0),
    ("What color is the sky on a clear day?", "green", "blue", "red", "black", 1),
    ("Which planet do we live on?", "Mars", "Venus", "Jupiter", "Earth", 3),
    ("What do bees make?", "milk", "honey", "bread", "cheese", 1),
    ("How many legs does a spider have?", "eight", "six", "four", "ten", 0),
    ("What is frozen water called?", "steam", "ice", "sand", "glass", 1),
    ("Which season comes after winter?", "autumn", "summer", "spring", "winter", 2),
    ("What is the largest ocean on Earth?", "the Atlantic Ocean", "the Indian Ocean", "the Arctic Ocean",
     "the Pacific Ocean", 3),
    ("Which gas do plants take in from the air to make food?", "carbon dioxide", "helium", "neon", "hydrogen", 0),
    ("What is the opposite of hot?", "warm", "cold", "loud", "fast", 1),
    ("How many hours are in a day?", "twelve", "twenty-four", "thirty", "sixty", 1),
    ("Which instrument has black and white keys?", "drum", "violin", "piano", "trumpet", 2),
    ("What is the primary language spoken in Spain?", "Spanish", "German", "Japanese", "Swedish", 0),
    ("Which shape has three sides?", "square", "circle", "triangle", "hexagon", 2),
]

CAPITALS = {
    "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Japan": "Tokyo", "China": "Beijing",
    "Russia": "Moscow", "the United Kingdom": "London", "Egypt": "Cairo", "Canada": "Ottawa",
    "Australia": "Canberra", "Greece": "Athens", "Portugal": "Lisbon", "Ireland": "Dublin", "Norway": "Oslo",
    "Sweden": "Stockholm", "Finland": "Helsinki", "Denmark": "Copenhagen", "Poland": "Warsaw",
    "Austria": "Vienna", "Hungary": "Budapest", "the Czech Republic": "Prague", "Belgium": "Brussels",
    "Argentina": "Buenos Aires", "Peru": "Lima", "Mexico": "Mexico City", "South Korea": "Seoul",
    "Thailand": "Bangkok", "Kenya": "Nairobi", "India": "New Delhi", "Cuba": "Havana",
}
UNITS = [  # (how many X are in one Y, the number)
    ("minutes", "an hour", 60), ("seconds", "a minute", 60), ("months", "a year", 12),
    ("centimeters", "a meter", 100), ("millimeters", "a centimeter", 10),
    ("meters", "a kilometer", 1000), ("grams", "a kilogram", 1000), ("milliliters", "a liter", 1000),
    ("years", "a decade", 10), ("years", "a century", 100), ("inches", "a foot", 12), ("feet", "a yard", 3),
    ("cents", "a dollar", 100), ("eggs", "a dozen", 12), ("weeks", "a year", 52), ("days", "a leap year", 366),
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
OPPOSITES = [("big", "small"), ("up", "down"), ("open", "closed"), ("fast", "slow"), ("happy", "sad"),
             ("wet", "dry"), ("full", "empty"), ("early", "late"), ("high", "low"), ("left", "right"),
             ("push", "pull"), ("win", "lose"), ("always", "never"), ("first", "last"), ("true", "false")]
YOUNG = {"dog": "puppy", "cat": "kitten", "cow": "calf", "horse": "foal", "sheep": "lamb", "bear": "cub",
         "frog": "tadpole", "duck": "duckling"}
SOUNDS = {"dog": "bark", "cat": "meow", "duck": "quack", "lion": "roar", "snake": "hiss", "horse": "neigh",
          "pig": "oink", "owl": "hoot"}
SIDES = {"triangle": 3, "square": 4, "pentagon": 5, "hexagon": 6, "octagon": 8}


def _mc(rng: random.Random, question: str, right, wrong: list) -> tuple:
    """A row with the right answer among three distinct wrong ones, at a seeded position."""
    choices = [str(right)] + [str(w) for w in rng.sample([w for w in dict.fromkeys(wrong) if w != right], 3)]
    rng.shuffle(choices)
    return (question, *choices, choices.index(str(right)))


def _near(n: int) -> list[int]:
    return [n + d for d in (-10, -2, -1, 1, 2, 10) if n + d >= 0]


def fact_rows(rng: random.Random) -> list[tuple]:
    """The first rows, then facts of each kind, shuffled together, until FACTS_ITEMS."""
    facts = []
    capitals = list(CAPITALS.values())
    facts += [_mc(rng, f"What is the capital of {country}?", city, capitals) for country, city in CAPITALS.items()]
    numbers = sorted({n for *_, n in UNITS})
    facts += [_mc(rng, f"How many {part} are in {whole}?", n, numbers) for part, whole, n in UNITS]
    for i, day in enumerate(DAYS):
        others = [d for d in DAYS if d != day]
        facts.append(_mc(rng, f"Which day comes after {day}?", DAYS[(i + 1) % 7], others))
        facts.append(_mc(rng, f"Which day comes before {day}?", DAYS[i - 1], others))
    for i, month in enumerate(MONTHS):
        facts.append(_mc(rng, f"Which month comes after {month}?", MONTHS[(i + 1) % 12], MONTHS[:i] + MONTHS[i + 1:]))
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for i in rng.sample(range(25), 12):
        facts.append(_mc(rng, f"Which letter comes after {letters[i]} in the alphabet?", letters[i + 1],
                         list(letters[:i] + letters[i + 1:])))
    words = [w for pair in OPPOSITES for w in pair]
    facts += [_mc(rng, f"What is the opposite of {a}?", b, words) for a, b in OPPOSITES]
    facts += [_mc(rng, f"What is a baby {adult} called?", young, list(YOUNG.values())) for adult, young in YOUNG.items()]
    facts += [_mc(rng, f"What sound does a {animal} make?", sound, list(SOUNDS.values()))
              for animal, sound in SOUNDS.items()]
    facts += [_mc(rng, f"How many sides does a {shape} have?", n, range(3, 10)) for shape, n in SIDES.items()]
    asked = {row[0] for row in facts}
    while len(facts) < FACTS_ITEMS - len(FIRST_FACTS):
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        question, right, wrong = [(f"What is {a} plus {b}?", a + b, _near(a + b)),
                                  (f"What is {a + b} minus {b}?", a, _near(a)),
                                  (f"What is {a} times {b}?", a * b, _near(a * b) + [a + b])][len(facts) % 3]
        if question not in asked:
            asked.add(question)
            facts.append(_mc(rng, question, right, wrong))
    rng.shuffle(facts)
    return FIRST_FACTS + facts[:FACTS_ITEMS - len(FIRST_FACTS)]


def texts() -> dict[str, str]:
    """File name -> the text it must hold."""
    rng = random.Random(SEED)
    jsonl = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in arithmetic_rows(rng))
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["question", "choice0", "choice1", "choice2", "choice3", "answer"])
    writer.writerows(fact_rows(rng))
    return {"arithmetic.jsonl": jsonl, "facts_mc.csv": table.getvalue()}


if __name__ == "__main__":
    for name, text in texts().items():
        (HERE / name).write_text(text, encoding="utf-8", newline="")
        print(f"{HERE / name}: {text.count(chr(10)) - name.endswith('.csv')} items")

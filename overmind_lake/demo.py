"""The bundled demo lake: three agents' evaluation datasets, generated deterministically.

``write_demo(lake)`` writes ``customer-support``, ``sql-agent`` and
``travel-booking`` with several versions each (made with ``create_dataset``,
``add_version`` and ``derive``), all four sources, a dozen personas and
several generator models. Datapoint ids, agents and contents come from a
seeded generator, so every version's checksum is the same on every run (only
dataset ids and timestamps differ). ``data/lake`` in the repository is this
lake; ``python -m overmind_lake demo`` rebuilds it.
"""

from __future__ import annotations

import random
import uuid
from typing import Any, Callable

from .errors import DatasetExists
from .lake import DatasetVersion, Lake

NAMESPACE = uuid.UUID("6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f")
PERSONAS = ("frustrated-customer", "first-time-user", "power-user", "non-native-speaker", "enterprise-admin",
            "budget-traveler", "business-traveler", "family-planner", "data-analyst", "junior-engineer",
            "finance-manager", "accessibility-user")
MODELS = ("gpt-4o-2024-08-06", "claude-3-5-sonnet-20241022", "llama-3.1-70b-instruct", "mistral-large-2407")
AGENTS = {name: str(uuid.uuid5(NAMESPACE, f"agent/{name}"))
          for name in ("customer-support", "sql-agent", "travel-booking")}
DEMO_STEPS = 10  # versions written by write_demo

Row = dict[str, Any]


def _id(*parts: Any) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(map(str, parts))))


# -- customer support ---------------------------------------------------------
_SUPPORT = [
    ("refund", "I was charged twice for order {order}. Can I get a refund?", "lookup_order",
     "I found the duplicate charge on order {order} and issued a refund of ${amount}. It will appear in 3-5 "
     "business days."),
    ("shipping", "Where is my package? Order {order} was supposed to arrive {day}.", "track_shipment",
     "Order {order} is with the carrier and is now expected on {day}. I've sent you the tracking link."),
    ("account", "I can't log in, the reset email never arrives ({email}).", "send_password_reset",
     "I've sent a new reset link to {email}. Please check your spam folder; the link is valid for 30 minutes."),
    ("cancel", "Please cancel my {plan} subscription before it renews.", "cancel_subscription",
     "Your {plan} subscription is cancelled and will not renew. You keep access until the end of the period."),
    ("upgrade", "How much would it cost to move from {plan} to the Business plan?", "quote_plan_change",
     "Moving from {plan} to Business costs ${amount} more per month, prorated from today."),
    ("damaged", "The blender in order {order} arrived broken. What now?", "create_return",
     "Sorry about that! I've created a free return for order {order} and a replacement ships today."),
]
_PLANS = ("Starter", "Pro", "Team")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")


def support_row(rng: random.Random, key: str, persona: str | None = None) -> Row:
    category, ask, tool, answer = rng.choice(_SUPPORT)
    values = {"order": f"A-{rng.randint(10000, 99999)}", "amount": f"{rng.randint(5, 400)}.{rng.randint(0, 99):02d}",
              "day": rng.choice(_DAYS), "email": f"user{rng.randint(1, 999)}@example.com",
              "plan": rng.choice(_PLANS)}
    persona = persona or rng.choice(PERSONAS)
    return {
        "id": _id("customer-support", key),
        "input": {"messages": [{"role": "system", "content": "You are Acme's support agent. Use tools."},
                               {"role": "user", "content": ask.format(**values)}],
                  "customer": {"plan": values["plan"], "tenure_months": rng.randint(0, 60)}},
        "expected_output": {"tool_calls": [{"name": tool, "arguments": {k: values[k] for k in ("order", "email")
                                                                        if "{" + k + "}" in ask}}],
                            "response": answer.format(**values)},
        "persona": persona,
        "tags": {"category": category, "difficulty": rng.choice(("easy", "medium", "hard")), "language": "en"},
    }


# -- SQL agent ------------------------------------------------------------------
_SQL = [
    ("aggregation", "What was total revenue in {region} in {year}?",
     "SELECT sum(amount) AS revenue FROM orders WHERE region = '{region}' AND extract(year FROM created_at) = {year}"),
    ("top-n", "Which {n} products sold the most units in {year}?",
     "SELECT p.name, sum(oi.quantity) AS units FROM order_items oi JOIN products p ON p.id = oi.product_id "
     "JOIN orders o ON o.id = oi.order_id WHERE extract(year FROM o.created_at) = {year} GROUP BY p.name "
     "ORDER BY units DESC LIMIT {n}"),
    ("time-series", "Show monthly signups in {region} for {year}.",
     "SELECT date_trunc('month', created_at) AS month, count(*) AS signups FROM customers WHERE region = "
     "'{region}' AND extract(year FROM created_at) = {year} GROUP BY 1 ORDER BY 1"),
    ("join", "List customers in {region} who never placed an order.",
     "SELECT c.id, c.email FROM customers c LEFT JOIN orders o ON o.customer_id = c.id WHERE c.region = "
     "'{region}' AND o.id IS NULL ORDER BY c.id"),
    ("window", "For each region, what share of {year} revenue came from the top {n} customers?",
     "WITH r AS (SELECT region, customer_id, sum(amount) AS rev, rank() OVER (PARTITION BY region ORDER BY "
     "sum(amount) DESC) AS rk FROM orders WHERE extract(year FROM created_at) = {year} GROUP BY 1, 2) SELECT "
     "region, sum(rev) FILTER (WHERE rk <= {n}) / sum(rev) AS share FROM r GROUP BY region ORDER BY region"),
]
_REGIONS = ("EMEA", "APAC", "NA", "LATAM")


def sql_row(rng: random.Random, key: str, dialect: str = "postgres") -> Row:
    category, question, sql = rng.choice(_SQL)
    values = {"region": rng.choice(_REGIONS), "year": rng.randint(2019, 2024), "n": rng.choice((3, 5, 10))}
    return {
        "id": _id("sql-agent", key),
        "input": {"question": question.format(**values), "database": "shop",
                  "tables": ["customers", "orders", "order_items", "products"]},
        "expected_output": {"sql": sql.format(**values), "must_be_read_only": True},
        "persona": rng.choice(("data-analyst", "finance-manager", "junior-engineer", "power-user",
                               "enterprise-admin", "first-time-user")),
        "tags": {"category": category, "dialect": dialect, "difficulty": rng.choice(("easy", "medium", "hard"))},
    }


# -- travel booking ---------------------------------------------------------------
_CITIES = (("Lisbon", "LIS"), ("Berlin", "BER"), ("New York", "JFK"), ("Tokyo", "HND"), ("São Paulo", "GRU"),
           ("Zürich", "ZRH"), ("Singapore", "SIN"), ("Nairobi", "NBO"))


def travel_row(rng: random.Random, key: str) -> Row:
    (src, src_code), (dst, dst_code) = rng.sample(_CITIES, 2)
    date = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    adults, children = rng.randint(1, 3), rng.choice((0, 0, 1, 2))
    cabin = rng.choice(("economy", "premium_economy", "business"))
    nights = rng.randint(2, 10)
    calls = [{"name": "search_flights", "arguments": {"origin": src_code, "destination": dst_code,
                                                      "departure_date": date, "adults": adults,
                                                      "children": children, "cabin": cabin}}]
    if rng.random() < 0.5:
        calls.append({"name": "search_hotels", "arguments": {"city": dst, "check_in": date, "nights": nights,
                                                             "guests": adults + children}})
    party = f"{adults} adult{'s' if adults > 1 else ''}" + (f" and {children} kid{'s' if children > 1 else ''}"
                                                             if children else "")
    hotel = f" plus a hotel for {nights} nights" if len(calls) > 1 else ""
    return {
        "id": _id("travel-booking", key),
        "input": {"messages": [{"role": "user", "content": f"Book {cabin.replace('_', ' ')} flights from {src} "
                                                           f"to {dst} on {date} for {party}{hotel}."}],
                  "traveler_profile": {"loyalty_tier": rng.choice((None, "silver", "gold")), "currency": "EUR"}},
        "expected_output": {"tool_calls": calls, "must_confirm_before_booking": True},
        "persona": rng.choice(("budget-traveler", "business-traveler", "family-planner", "non-native-speaker",
                               "accessibility-user", "first-time-user", "frustrated-customer")),
        "tags": {"trip": "round" if rng.random() < 0.6 else "one-way", "international": True,
                 "difficulty": rng.choice(("easy", "medium", "hard"))},
    }


# -- variations ---------------------------------------------------------------------
def paraphrase(row: Row, rng: random.Random, key: str, dataset: str) -> Row:
    """An augmented copy of ``row``: same expected output, reworded or noisier input."""
    out = {**row, "id": _id(dataset, key)}
    text_key = "question" if "question" in row["input"] else None
    prefix = rng.choice(("hey, quick one: ", "Hi! ", "urgent - ", "pls help: "))
    if text_key:
        out["input"] = {**row["input"], "question": prefix + row["input"]["question"].lower()}
    else:
        messages = [dict(m) for m in row["input"]["messages"]]
        messages[-1]["content"] = prefix + messages[-1]["content"].lower()
        out["input"] = {**row["input"], "messages": messages}
    out["tags"] = {**row["tags"], "augmentation": rng.choice(("casing", "prefix", "noise"))}
    return out


def production(row: Row, rng: random.Random, key: str, dataset: str) -> Row:
    """A logged production interaction, labelled by a reviewer."""
    out = {**row, "id": _id(dataset, key)}
    out["tags"] = {**row["tags"], "trace_id": uuid.UUID(int=rng.getrandbits(128)).hex,
                   "latency_ms": rng.randint(300, 9000), "reviewed": True}
    return out


def _rows(make: Callable[..., Row], rng: random.Random, prefix: str, n: int, **kw: Any) -> list[Row]:
    return [make(rng, f"{prefix}/{i}", **kw) for i in range(n)]


def write_demo(lake: Lake, progress: Callable[[int], Any] | None = None) -> list[DatasetVersion]:
    """Write the demo datasets into ``lake``; DatasetExists if any of them is already there."""
    for name in AGENTS:
        if lake.catalog.id_for_name(name) is not None:
            raise DatasetExists(name)
    written: list[DatasetVersion] = []

    def step(v: DatasetVersion) -> None:
        written.append(v)
        if progress:
            progress(1)

    # customer-support: create, then three derived versions
    rng = random.Random(1)
    seed = _rows(support_row, rng, "seed", 40)
    step(lake.create_dataset("customer-support", seed, agent=AGENTS["customer-support"],
                             description="Acme support agent: refunds, shipping, accounts (tool calls)",
                             message="hand-written seed tickets"))
    step(lake.derive("customer-support", add=_rows(support_row, rng, "syn", 60), source="synthetic",
                     generator_model=MODELS[0], message="synthetic tickets from gpt-4o"))
    fixed = [{**r, "expected_output": {**r["expected_output"], "response": r["expected_output"]["response"]
                                       + " Is there anything else I can help with?"}, "source": "seed", "generator_model": None} for r in seed[:4]]
    step(lake.derive("customer-support", add=[paraphrase(r, rng, f"aug/{i}", "customer-support")
                                              for i, r in enumerate(seed[5:35])],
                     remove_ids=[r["id"] for r in seed[36:39]], replace=fixed, source="augmented",
                     generator_model=MODELS[1], message="paraphrases; fix 4 answers; drop 3 stale tickets"))
    step(lake.derive("customer-support", add=[production(support_row(rng, f"prod/{i}"), rng, f"prod/{i}",
                                                         "customer-support") for i in range(25)],
                     source="production", message="reviewed production conversations (week 14)"))

    # sql-agent: create, derive, then a full rewrite with add_version
    rng = random.Random(2)
    seed = _rows(sql_row, rng, "seed", 30)
    step(lake.create_dataset("sql-agent", seed, agent=AGENTS["sql-agent"],
                             description="Text-to-SQL agent over the shop database", message="seed questions"))
    synthetic = _rows(sql_row, rng, "syn", 50)
    step(lake.derive("sql-agent", add=synthetic, source="synthetic", generator_model=MODELS[2],
                     message="synthetic questions from llama-3.1-70b"))
    rewritten = [{**r, "tags": {**r["tags"], "dialect": "duckdb"}, "source": "seed"} for r in seed]
    rewritten += [{**r, "tags": {**r["tags"], "dialect": "duckdb"}, "source": "synthetic",
                   "generator_model": MODELS[2]} for r in synthetic]
    rewritten += [production(sql_row(rng, f"prod/{i}", "duckdb"), rng, f"prod/{i}", "sql-agent")
                  for i in range(20)]
    step(lake.add_version("sql-agent", rewritten, source="production",
                          message="port every question to the DuckDB dialect; add production traffic"))

    # travel-booking: create, derive with two sources, then production + fixes
    rng = random.Random(3)
    seed = _rows(travel_row, rng, "seed", 35)
    step(lake.create_dataset("travel-booking", seed, agent=AGENTS["travel-booking"],
                             description="Flight and hotel booking agent (multi-tool plans)",
                             message="seed itineraries"))
    augmented = [{**paraphrase(r, rng, f"aug/{i}", "travel-booking"), "source": "augmented",
                  "generator_model": MODELS[0]} for i, r in enumerate(seed[:20])]
    step(lake.derive("travel-booking", add=_rows(travel_row, rng, "syn", 40) + augmented, source="synthetic",
                     generator_model=MODELS[3], message="synthetic itineraries (mistral) and paraphrases (gpt-4o)"))
    fixes = [{**r, "expected_output": {**r["expected_output"], "must_confirm_before_booking": True,
                                       "ask_for_passport_names": True}, "source": "seed", "generator_model": None} for r in seed[10:15]]
    step(lake.derive("travel-booking", add=[production(travel_row(rng, f"prod/{i}"), rng, f"prod/{i}",
                                                       "travel-booking") for i in range(30)],
                     replace=fixes, source="production", message="production bookings; ask for passport names"))
    return written

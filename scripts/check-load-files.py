#!/usr/bin/env python3
"""Checks the Zuora load files of a cutover workspace (README, "Loading a wave into Zuora").

    scripts/check-load-files.py WORKSPACE [CATALOG]

For every set (import/<wave>/<cut-over date>/): every CSV parses, has no BOM, one header row with
unique names and rows as wide as it; every subscription row references an account row; every
rate plan and charge row references a catalog id; every usage record references a subscription
and charge of the file; the manifest's row counts, SHA-256s and control totals equal the files'.
Prints one line per problem and exits 1 if there is any; standard library only.
"""

import csv
import hashlib
import io
import json
import re
import sys
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal
from pathlib import Path

CSV_FILES = [
    "accounts-and-contacts.csv",
    "subscriptions.csv",
    "usage.csv",
    "legacy-suppression.csv",
    "rollback.csv",
]
MONTHS = {"Month": 1, "Quarter": 3, "Annual": 12}
MODES = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN, "up": ROUND_UP}


def catalog_ids(path):
    text = path.read_text(encoding="utf-8")
    plans = set(re.findall(r'product_rate_plan_id:\s*"?([^"\s#]+)"?', text))
    charges = set(re.findall(r'product_rate_plan_charge_id:\s*"?([^"\s#]+)"?', text))
    m = re.search(r"rounding:\s*\{\s*mode:\s*(\w+),\s*scale:\s*(\d+)", text)
    mode, scale = (m.group(1), int(m.group(2))) if m else ("half_up", 2)
    return plans, charges, MODES[mode], scale


def read_csv(path, problems):
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        problems.append(f"{path}: starts with a BOM")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        problems.append(f"{path}: not UTF-8: {e}")
        return [], []
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        problems.append(f"{path}: no header row")
        return [], []
    header, data = rows[0], rows[1:]
    if len(set(header)) != len(header):
        problems.append(f"{path}: duplicate header names")
    for i, r in enumerate(data, start=2):
        if len(r) != len(header):
            problems.append(f"{path}:{i}: {len(r)} fields, the header has {len(header)}")
    return header, [dict(zip(header, r)) for r in data]


def check_set(d, plans, charge_ids, mode, scale, problems):
    tables = {}
    for name in CSV_FILES:
        p = d / name
        if not p.exists():
            problems.append(f"{p}: missing")
            tables[name] = []
            continue
        tables[name] = read_csv(p, problems)[1]
    accounts = [r["Account Number"] for r in tables["accounts-and-contacts.csv"]]
    if len(set(accounts)) != len(accounts):
        problems.append(f"{d}: an account is listed twice in accounts-and-contacts.csv")
    known = set(accounts)
    subs, charges = set(), set()
    totals = {"subscriptions": 0, "rate_plans": 0, "charges": 0, "tiers": 0}
    mrr = {}
    currency = {}
    for i, r in enumerate(tables["subscriptions.csv"], start=2):
        where = f"{d / 'subscriptions.csv'}:{i}"
        kind = r["Record Type"]
        if r["Account Number"] not in known:
            problems.append(f"{where}: account {r['Account Number']} has no account row")
        if kind == "Subscription":
            totals["subscriptions"] += 1
            subs.add(r["Subscription Number"])
            currency[r["Subscription Number"]] = r["Currency"]
            if (r["Run Billing"], r["Collect"]) != ("FALSE", "FALSE"):
                problems.append(f"{where}: Run Billing and Collect must be FALSE")
        elif kind == "Rate Plan":
            totals["rate_plans"] += 1
            if r["Product Rate Plan Id"] not in plans:
                problems.append(f"{where}: product rate plan id {r['Product Rate Plan Id']!r} is not in the catalog")
        elif kind == "Charge":
            totals["charges"] += 1
            charges.add(r["Charge Number"])
            if r["Product Rate Plan Charge Id"] not in charge_ids:
                problems.append(
                    f"{where}: product rate plan charge id {r['Product Rate Plan Charge Id']!r} is not in the catalog"
                )
            if r["Subscription Number"] not in subs:
                problems.append(f"{where}: charge before its subscription row")
            if r["Charge Type"] == "Recurring":
                amount = Decimal(r["Price"]) * (Decimal(r["Quantity"]) if r["Quantity"] else 1)
                cur = currency.get(r["Subscription Number"], "")
                mrr[cur] = mrr.get(cur, Decimal(0)) + amount / MONTHS[r["Billing Period"]]
        elif kind == "Tier":
            totals["tiers"] += 1
            if r["Charge Number"] not in charges:
                problems.append(f"{where}: tier of an unknown charge {r['Charge Number']}")
        else:
            problems.append(f"{where}: unknown record type {kind!r}")
    usage_q = {}
    for i, r in enumerate(tables["usage.csv"], start=2):
        where = f"{d / 'usage.csv'}:{i}"
        if r["ACCOUNT_ID"] not in known:
            problems.append(f"{where}: account {r['ACCOUNT_ID']} has no account row")
        if r["SUBSCRIPTION_ID"] not in subs or r["CHARGE_ID"] not in charges:
            problems.append(f"{where}: {r['SUBSCRIPTION_ID']} / {r['CHARGE_ID']} is not in subscriptions.csv")
        for col in ("STARTDATE", "ENDDATE"):
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}|\d{2}/\d{2}/\d{4}", r[col]):
                problems.append(f"{where}: {col} {r[col]!r} is not a date")
        usage_q[r["UOM"]] = usage_q.get(r["UOM"], Decimal(0)) + Decimal(r["QTY"])
    for r in tables["legacy-suppression.csv"]:
        if r["account_number"] not in known:
            problems.append(f"{d}: suppression record for {r['account_number']}, which is not loaded")
    if set(r["account_number"] for r in tables["legacy-suppression.csv"]) != known:
        problems.append(f"{d}: legacy-suppression.csv does not cover exactly the loaded accounts")

    mpath = d / "manifest.json"
    if not mpath.exists():
        problems.append(f"{mpath}: missing (an interrupted run)")
        return len(accounts)
    m = json.loads(mpath.read_text(encoding="utf-8"))
    for f in m["files"]:
        p = d / f["name"]
        if not p.exists():
            continue
        if hashlib.sha256(p.read_bytes()).hexdigest() != f["sha256"]:
            problems.append(f"{p}: SHA-256 differs from the manifest")
        if len(tables.get(f["name"], [])) != f["rows"]:
            problems.append(f"{p}: {len(tables.get(f['name'], []))} rows, the manifest says {f['rows']}")
    t = m["totals"]
    want = dict(totals, accounts=len(accounts), usage_records=len(tables["usage.csv"]))
    for k, v in want.items():
        if t[k] != v:
            problems.append(f"{mpath}: totals.{k} is {t[k]}, the files have {v}")
    q = Decimal(1).scaleb(-scale)
    files_mrr = {c: str(v.quantize(q, rounding=mode)) for c, v in mrr.items()}
    if t["monthly_recurring_revenue"] != files_mrr:
        problems.append(f"{mpath}: monthly recurring revenue {t['monthly_recurring_revenue']}, the files give {files_mrr}")
    manifest_q = {u: Decimal(v) for u, v in t["usage_quantity"].items()}
    if manifest_q != usage_q:
        problems.append(f"{mpath}: usage quantity {t['usage_quantity']}, the files give {usage_q}")
    if m["accounts"] != accounts:
        problems.append(f"{mpath}: its account list differs from accounts-and-contacts.csv")
    if m["load_order"] != CSV_FILES[:3]:
        problems.append(f"{mpath}: load order {m['load_order']}")
    if not (d / "README.txt").exists():
        problems.append(f"{d / 'README.txt'}: missing")
    return len(accounts)


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    ws = Path(sys.argv[1])
    catalog = Path(sys.argv[2]) if len(sys.argv) > 2 else ws / "waves" / "catalog.yaml"
    plans, charge_ids, mode, scale = catalog_ids(catalog)
    problems = []
    sets = sorted(p for p in (ws / "import").glob("*/*") if p.is_dir())
    accounts = sum(check_set(d, plans, charge_ids, mode, scale, problems) for d in sets)
    for p in problems:
        print(p)
    print(f"{len(sets)} set(s), {accounts} account(s) loaded, {len(problems)} problem(s)")
    return 1 if problems or not sets else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Writes the spreadsheet files the soasheet tests import.

Python's csv module with the "excel" dialect writes what Excel's
"Save As" does: CRLF row ends, quotes only where needed, a doubled quote
inside a quoted cell. The encodings are those of Excel's save formats:
"CSV UTF-8" (utf-8 with a byte order mark), plain "CSV" on Windows
(cp1252) and "Unicode Text" (UTF-16LE, tab-separated). LibreOffice Calc's
default CSV is UTF-8 without a mark, LF row ends and TRUE/FALSE booleans.

Run from this folder: /usr/bin/python3 make_fixtures.py
"""
import csv
import io

HEADER = ["control_id", "title", "applicable", "justification", "author", "updated_at"]

ROWS = [
    ["iso27001-2022/5.1", "Policies for information security", "yes",
     "Required by the ISMS scope statement; reviewed by the board, \"annually\".", "", ""],
    ["iso27001-2022/5.2", "Information security roles and responsibilities", "TRUE",
     "Treats risk R-12 (unclear ownership of training data).\nOwner: CISO.", "", ""],
    ["iso27001-2022/7.4", "Physical security monitoring", "no",
     "'=Hosted in a provider's data centre; physical monitoring is the provider's (contract §4.2).", "", ""],
    ["iso27001-2022/8.1", "User endpoint devices", "FALSE",
     "No endpoints in scope: training hosts only, administered over SSH — Zugriff nur über Bastion.", "", ""],
    ["iso42001-2023/A.2.2", "AI policy", "yes", "", "", ""],
]


def excel(rows, delimiter=",", header=HEADER, note=True):
    out = io.StringIO(newline="")
    w = csv.writer(out, dialect="excel", delimiter=delimiter)
    w.writerow(header + (["notes"] if note else []))
    for r in rows:
        w.writerow(r + (["ask legal" if note else ""] if note else []))
    # Excel keeps empty rows inside the used range.
    w.writerow([""] * (len(header) + (1 if note else 0)))
    return out.getvalue()


def write(name, text, encoding):
    with open(name, "w", encoding=encoding, newline="") as f:
        f.write(text)


write("excel-utf8.csv", excel(ROWS), "utf-8-sig")
write("excel-semicolon.csv", excel(ROWS, delimiter=";"), "utf-8-sig")
write("excel-cp1252.csv", excel([r for r in ROWS if "Zugriff" not in r[3]] +
                                [["iso27001-2022/8.2", "Privileged access rights", "yes", "Accès réservé aux administrateurs.", "", ""]]),
      "cp1252")
write("excel-unicode.txt", excel(ROWS, delimiter="\t"), "utf-16")

lo = io.StringIO(newline="")
w = csv.writer(lo, delimiter=",", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
w.writerow(HEADER)
for r in ROWS:
    w.writerow(r)
write("libreoffice.csv", lo.getvalue(), "utf-8")

bad = io.StringIO(newline="")
w = csv.writer(bad, dialect="excel")
w.writerow(HEADER)
w.writerow(["iso27001-2022/5.1", "", "yes", "Required by the ISMS.", "", ""])
w.writerow(["iso27001-2022/5.99", "", "yes", "typo in the id", "", ""])
w.writerow(["iso27001-2022/7.4", "", "no", "", "", ""])
w.writerow(["iso27001-2022/8.1", "", "maybe", "unsure", "", ""])
w.writerow(["iso27001-2022/5.1", "", "no", "second row for 5.1", "", ""])
write("bad.csv", bad.getvalue(), "utf-8-sig")

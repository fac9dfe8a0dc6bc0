#!/usr/bin/env python3
"""Rebuild the bundled customer-support data set (every file under ``data/support/``).

Usage::

    python data/generate.py [--out DIR]      # default DIR: data/support next to this file

Standard library only and fully deterministic: every random choice comes from a
``random.Random`` seeded with a fixed integer, only lists and insertion-ordered dicts are
iterated (never sets), and JSON is written with a fixed key order. Running it twice gives
byte-identical files. The labelling rules it implements are written down in
``data/GUIDELINES.md``; the files it writes are described in ``data/README.md``.

The messages are synthetic: a fictional shop ("Larkspur Goods"), invented products and
invented people. Clean rows contain no e-mail addresses, phone numbers or card numbers.

Variety: every pool sentence may hold ``[a|b|c]`` alternatives (``vary``), so one entry yields many
sentences, and ``most_repeated_sentence`` measures what is left of a template (the data tests
require no sentence of six or more words in more than 5% of a file's messages). noisy_train
carries random noise (``NOISE_RATES``) and, on the rows the random noise left alone, systematic
noise by rule (``SYSTEMATIC``).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
from pathlib import Path
from typing import Any, Callable

SEED = 20261203
STORE = "Larkspur Goods"
TASK = "extraction"

FIELDS = ["order_id", "product", "issue_type", "requested_action", "sentiment"]
# Priority order: when a message raises several issues, the one highest in this list wins.
ISSUE_TYPES = [
    "damaged_item", "wrong_item", "delivery_delay", "billing_problem",
    "return_request", "order_change", "account_access", "product_question",
]
ACTIONS = ["refund", "replacement", "cancel_order", "track_order", "update_address",
           "unlock_account", "information"]
SENTIMENTS = ["positive", "neutral", "negative"]
NULLABLE = ["order_id", "product", "requested_action"]

SPLIT_SIZES = {"train": 640, "eval": 120, "golden": 60, "production_sample": 220, "noisy_train": 3000}

# ---------------------------------------------------------------------------------------------
# Catalogue: product line -> (catalogue name, short noun). "pet" only appears in production.
# ---------------------------------------------------------------------------------------------
CATALOGUE: dict[str, list[tuple[str, str]]] = {
    "apparel": [
        ("Nimbus rain jacket", "jacket"), ("Trailhead hiking boots", "boots"),
        ("Merino crew socks", "socks"), ("Harbor denim jacket", "jacket"),
        ("Loft wool sweater", "sweater"), ("Solstice running shorts", "shorts"),
        ("Cobalt puffer vest", "vest"), ("Drift linen shirt", "shirt"),
        ("Meadow summer dress", "dress"), ("Granite work trousers", "trousers"),
    ],
    "home": [
        ("Cedar desk lamp", "lamp"), ("Ember cast-iron skillet", "skillet"),
        ("Halcyon duvet cover", "duvet cover"), ("Brewline pour-over kettle", "kettle"),
        ("Mosaic ceramic mug set", "mugs"), ("Pillar bookshelf", "bookshelf"),
        ("Tidal bath towel set", "towels"), ("Orbit wall clock", "clock"),
        ("Juniper scented candle", "candle"), ("Basalt chopping board", "chopping board"),
    ],
    "electronics": [
        ("Pulse wireless earbuds", "earbuds"), ("Volt power bank", "power bank"),
        ("Lumen e-reader", "e-reader"), ("Beacon bluetooth speaker", "speaker"),
        ("Arc USB-C hub", "hub"), ("Glint webcam", "webcam"),
        ("Strata phone case", "phone case"), ("Quill smart pen", "pen"),
        ("Halo smartwatch", "watch"), ("Keystone mechanical keyboard", "keyboard"),
    ],
    "outdoor": [
        ("Summit 2-person tent", "tent"), ("Ridge trekking poles", "poles"),
        ("Canyon daypack", "backpack"), ("Basecamp sleeping bag", "sleeping bag"),
        ("Firefly camping lantern", "lantern"), ("Riverstone water bottle", "bottle"),
        ("Tundra camping stove", "stove"), ("Kestrel hammock", "hammock"),
    ],
    "pet": [
        ("Bramble cat tree", "cat tree"), ("Whisker water fountain", "fountain"),
        ("Trotter dog harness", "harness"), ("Snug pet bed", "pet bed"),
        ("Kibble smart feeder", "feeder"), ("Tumble litter box", "litter box"),
        ("Fetchmaster ball launcher", "ball launcher"), ("Wagtail dog lead", "lead"),
    ],
}
TRAIN_LINES = ["apparel", "home", "electronics", "outdoor"]

DEFECTS = {
    "apparel": ["the seams are coming apart", "the stitching is unravelling", "the colour ran in the first wash",
                "the fabric pilled after one wash", "the fabric has a hole in it"],
    "home": ["a piece has broken off", "there's a crack along the base", "it wobbles and won't sit flat",
             "the finish is peeling off", "the lid doesn't fit properly"],
    "electronics": ["it won't charge", "the left side has no sound", "it keeps switching itself off",
                    "the screen flickers", "it gets really hot and then dies"],
    "outdoor": ["one of the clips snapped", "the buckle broke on the first walk", "it leaks at the seam",
                "the strap tore", "it won't stay lit"],
    "pet": ["it tipped over on day one", "the motor makes a grinding noise", "the stitching came apart",
            "the clip snapped", "it stopped dispensing food"],
}
DAMAGE = {
    "apparel": ["torn", "ripped along a seam", "covered in a dark stain", "badly creased and stained"],
    "home": ["cracked", "smashed", "chipped", "broken in two"],
    "electronics": ["cracked", "dented", "rattling inside", "scratched all over"],
    "outdoor": ["torn", "bent out of shape", "punctured", "snapped"],
    "pet": ["torn", "cracked", "snapped", "broken"],
}
QUESTIONS = {
    "apparel": [("{Is} {item} machine washable?", "whether {thing} {is} machine washable"),
                ("{Does} {item} come in {size}?", "whether {thing} come{s} in another size"),
                ("How {does} {item} fit - true to size or small?", "how {thing} fit{s}"),
                ("{Is} {item} warm enough for winter?", "whether {thing} {is} warm enough for winter")],
    "home": [("{Is} {item} dishwasher safe?", "whether {thing} {is} dishwasher safe"),
             ("What are the dimensions of {item}?", "about the dimensions of {thing}"),
             ("{Does} {item} come assembled?", "whether {thing} come{s} assembled"),
             ("Can {item} go in the oven?", "whether {thing} can go in the oven")],
    "electronics": [("Will {item} work with my laptop?", "whether {thing} work{s} with their laptop"),
                    ("How long does the battery on {item} last?", "about the battery life of {thing}"),
                    ("{Does} {item} come with a charger?", "whether {thing} come{s} with a charger"),
                    ("{Is} {item} compatible with older phones?", "whether {thing} work{s} with older phones")],
    "outdoor": [("{Is} {item} fully waterproof?", "whether {thing} {is} waterproof"),
                ("How much {does} {item} weigh?", "how much {thing} weigh{s}"),
                ("{Is} {item} OK for winter camping?", "whether {thing} suit{s} winter camping"),
                ("{Does} {item} come with a carry bag?", "whether {thing} come{s} with a carry bag")],
    "pet": [("{Is} {item} OK for a large dog?", "whether {thing} suit{s} a large dog"),
            ("{Is} {item} easy to clean?", "whether {thing} {is} easy to clean"),
            ("Will {item} work for two cats?", "whether {thing} work{s} for two cats"),
            ("What {is} {item} made of?", "what {thing} {is} made of")],
}

FIRST_NAMES = ["Maria", "Tom", "Priya", "James", "Aisha", "Lukas", "Sofia", "Daniel", "Chloe", "Omar",
               "Hannah", "Mateo", "Emma", "Kenji", "Grace", "Ravi", "Lena", "Noah", "Fatima", "Oliver",
               "Zoe", "Samuel", "Ines", "Marco", "Yuki", "Ben", "Amara", "Pieter", "Leila", "Connor",
               "Mei", "Jonas", "Ella", "Tariq", "Ruth", "Diego", "Anya", "Felix", "Nadia", "Harriet",
               "Sven", "Rosa", "Kwame", "Iris", "Callum", "Bea", "Arjun", "Freya", "Hugo", "Elif"]
SURNAMES = ["Kowalski", "Nguyen", "Okafor", "Schmidt", "Patel", "Brennan", "Costa", "Larsen", "Haddad",
            "Moreau", "Fischer", "Silva", "Tanaka", "Walsh", "Novak", "Ibrahim", "Rossi", "Jensen",
            "Murphy", "Alvarez", "Lindqvist", "Mensah", "Dubois", "Kaur", "O'Neill", "Sato", "Berg",
            "Hughes", "Ferreira", "Yilmaz"]
AGENTS = ["Sam", "Alex", "Jo", "Robin", "Charlie", "Kim", "Morgan", "Jamie"]
CITIES = ["Leeds", "Bristol", "Glasgow", "Cardiff", "York", "Bath", "Dundee", "Norwich", "Exeter", "Belfast"]
COUNTRIES = ["Norway", "Canada", "Ireland", "Portugal", "Iceland", "Australia", "Switzerland", "Poland"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
SIZES = ["size XS", "size S", "size M", "size L", "size XL", "a small", "a medium", "a large"]
COLOURS = ["navy", "black", "olive", "grey", "red", "sand", "forest green", "white", "mustard", "teal"]
CODES = ["SPRING", "WELCOME", "SUMMER", "FRIENDS", "AUTUMN", "BUNDLE", "STUDENT", "HELLO"]

# ---------------------------------------------------------------------------------------------
# Scenarios: what went wrong, in email and chat register, with a summary core and the actions
# that fit (weights). {item}/{Item} = mention of the product (or a generic noun), {thing} = the
# same in the summary, other placeholders are filled by ``fill``.
# ---------------------------------------------------------------------------------------------
Scenario = dict[str, Any]

SCENARIOS: dict[str, list[Scenario]] = {
    "delivery_delay": [
        {"key": "late", "generic": ["my order", "my parcel", "the package", "my delivery"],
         "email": ["{Item} still {hasnt} arrived.", "I'm still waiting for {item}.",
                   "{Item} {was} supposed to be here {when}, but nothing has shown up.",
                   "It's been {days} and {item} {is} still not here.",
                   "The estimated delivery date for {item} has come and gone.",
                   "{Item} {was} due {when} and I still have nothing."],
         "chat": ["still waiting for {item}", "{item} hasnt arrived yet", "been {days} and still no sign of {item}",
                  "{item} was due {when}, nothing yet", "{item} not here yet and its been {days}"],
         "summary": "says {thing} {has} not arrived yet",
         "actions": {"track_order": 45, "cancel_order": 15, "refund": 12, "information": 6, None: 12}},
        {"key": "marked_delivered", "generic": ["my parcel", "the package", "my order"],
         "email": ["Tracking says {item} {was} delivered {when}, but nothing was left at my door.",
                   "I got a notification that {item} {was} delivered, but {they} {isnt} here.",
                   "{Item} show{s} as delivered, but I never received {it}.",
                   "Apparently {item} {was} handed over {when}, but there was nobody home and no card was left."],
         "chat": ["it says {item} was delivered but its not here", "app says delivered?? {item} not here",
                  "{item} marked delivered {when} but i never got it"],
         "summary": "says {thing} {is} marked as delivered but never arrived",
         "actions": {"track_order": 35, "refund": 25, "replacement": 20, "information": 8, None: 12}},
        {"key": "stuck", "generic": ["my parcel", "the order", "my package"],
         "email": ["The tracking for {item} hasn't moved since {since}.",
                   "{Item} seem{s} to be stuck at the depot; the status hasn't changed in {days}.",
                   "{Item} {has} said 'in transit' for {days} now."],
         "chat": ["tracking for {item} hasnt moved since {since}", "{item} stuck in transit for {days}"],
         "summary": "says the tracking for {thing} has not moved for days",
         "actions": {"track_order": 50, "cancel_order": 20, "information": 10, None: 10}},
    ],
    "damaged_item": [
        {"key": "arrived_broken", "generic": ["the item", "my order", "what I ordered"],
         "email": ["{Item} arrived {damage}.", "When I opened the box, {item} {was} {damage}.",
                   "{Item} came {damage} - the box had clearly been crushed.",
                   "{Item} {was} {damage} when {they} arrived.",
                   "{Item} {was} damaged in the post: {damage}, and the packaging was soaked."],
         "chat": ["{item} arrived {damage}", "{item} came {damage}", "opened the box and {item} {is} {damage}",
                  "{item} arrived damaged"],
         "summary": "says {thing} arrived damaged",
         "actions": {"replacement": 40, "refund": 35, "information": 10, None: 15}},
        {"key": "faulty", "generic": ["the item", "it", "what I bought"],
         "email": ["{Item} {is} faulty: {defect}.", "{Item} {has} a fault: {defect}.",
                   "Within {short} of getting {item}, {defect}.", "I've only had {item} for {short} and {defect}."],
         "chat": ["{item} is faulty, {defect}", "problem with {item}: {defect}",
                  "had {item} {short} and {defect}"],
         "summary": "says {thing} {is} faulty",
         "actions": {"replacement": 45, "refund": 35, "information": 15, None: 5}},
    ],
    "wrong_item": [
        {"key": "wrong_product", "generic": [],
         "email": ["I ordered {item} but received {other} instead.",
                   "The box had {other} in it, not {item}.", "Instead of {item} I got {other}.",
                   "You sent me {other}. I ordered {item}."],
         "chat": ["ordered {item} but got {other}", "got {other} instead of {item}",
                  "wrong item, got {other} not {item}"],
         "summary": "says they received the wrong item instead of {thing}",
         "actions": {"replacement": 50, "refund": 25, "information": 12, None: 10}},
        {"key": "wrong_variant", "generic": ["the item"],
         "email": ["I ordered {item} in {colour}, but {they} came in {colour2}.",
                   "{Item} came in {colour2}, not the {colour} I picked.",
                   "{Item} arrived in {size2} even though I ordered {size}.",
                   "The label on {item} says {size2}; my order confirmation says {size}."],
         "chat": ["{item} came in {colour2}, i ordered {colour}", "ordered {size} got {size2} ({item})"],
         "summary": "says {thing} came in the wrong size or colour",
         "actions": {"replacement": 55, "refund": 20, "information": 12, None: 8}},
        {"key": "missing_piece", "generic": ["one of the items", "part of my order"],
         "email": ["{Item} {was} missing from the parcel; everything else was there.",
                   "The box arrived but {item} {wasnt} in it.",
                   "Only half my order came: {item} {is} missing."],
         "chat": ["parcel came but {item} wasnt in it", "{item} missing from the box"],
         "summary": "says {thing} {was} missing from the parcel",
         "actions": {"replacement": 50, "refund": 35, None: 10}},
    ],
    "billing_problem": [
        {"key": "charged_twice", "generic": ["my order", "one order"],
         "email": ["I was charged twice for {item}.", "My bank statement shows the same payment twice for {item}.",
                   "The payment for {item} went through two times."],
         "chat": ["charged twice for {item}", "i got billed 2x for {item}"],
         "summary": "says they were charged twice for {thing}",
         "actions": {"refund": 65, "information": 20, None: 10}},
        {"key": "promo", "generic": ["my order", "the order"],
         "email": ["The discount code {code} didn't apply when I bought {item}.",
                   "I used the code {code} but paid full price for {item}.",
                   "Your newsletter promised {pct} off, but I was charged full price for {item}."],
         "chat": ["code {code} didnt work on {item}", "paid full price for {item}, code {code} didnt apply"],
         "summary": "says a discount was not applied to {thing}",
         "actions": {"refund": 55, "information": 35, None: 10}},
        {"key": "refund_missing", "generic": ["the item", "my order"],
         "email": ["I sent back {item} {when} and still haven't got my refund.",
                   "You confirmed my refund for {item} {when}, but the money isn't in my account.",
                   "The refund for {item} still hasn't shown up on my statement."],
         "chat": ["still no refund for {item}", "returned {item} {when}, no refund yet"],
         "summary": "says a promised refund for {thing} has not arrived",
         "actions": {"refund": 55, "information": 35, None: 10}},
        {"key": "wrong_amount", "generic": ["my order", "the order"],
         "email": ["I was charged more than the price shown for {item}.",
                   "The total on my statement for {item} is higher than what checkout showed.",
                   "There's an extra delivery charge on {item} that wasn't there when I paid."],
         "chat": ["charged more than the price shown for {item}", "extra charge on {item}??"],
         "summary": "says they were charged the wrong amount for {thing}",
         "actions": {"refund": 50, "information": 40, None: 10}},
    ],
    "return_request": [
        {"key": "changed_mind", "generic": ["the item", "my order", "it"],
         "email": ["I'd like to return {item}; {its} just not what I expected.",
                   "{Item} {doesnt} really suit me, so I want to send {it} back.",
                   "I've changed my mind about {item} and would like to return {it}.",
                   "{Item} {is} fine, I just don't need {it} any more and want to send {it} back."],
         "chat": ["want to return {item}", "changed my mind on {item}, can i send it back",
                  "{item} not for me, want to return it"],
         "summary": "asks to return {thing}",
         "actions": {"refund": 50, "information": 45}},
        {"key": "own_mistake", "generic": ["the item"],
         "email": ["I ordered {item} in the wrong size myself - {its} too small.",
                   "My mistake: I picked {colour} for {item} and really wanted {colour2}.",
                   "I ordered {item} in {colour} by accident; I meant to pick {colour2}.",
                   "I ordered {item} in {size} by accident; I need {size2}."],
         "chat": ["my bad, ordered {item} in the wrong size", "picked the wrong colour for {item} by mistake"],
         "summary": "ordered {thing} in the wrong size or colour by mistake",
         "actions": {"replacement": 55, "refund": 25, "information": 20}},
    ],
    "order_change": [
        {"key": "address", "generic": ["my order", "the order"],
         "email": ["I need to change the delivery address for {item}.",
                   "I've just moved, and {item} {is} set to go to my old place.",
                   "I put the wrong street on {item}.",
                   "{Item} {hasnt} shipped yet and I won't be home that week."],
         "chat": ["need to change the address for {item}", "{item} going to my old address",
                  "wrong address on {item}"],
         "summary": "says the delivery address for {thing} is wrong or out of date",
         "actions": {"update_address": 70, "information": 15, "cancel_order": 10}},
        {"key": "cancel", "generic": [],
         "email": ["I accidentally ordered {item} twice.", "I don't need {item} any more and {they} {hasnt} shipped yet.",
                   "I placed the order for {item} too early and want to call it off.",
                   "I found {item} cheaper elsewhere, sorry."],
         "chat": ["ordered {item} twice by accident", "dont need {item} anymore, not shipped yet"],
         "summary": "has an unshipped order for {thing} that they no longer need",
         "actions": {"cancel_order": 70, "refund": 15, "information": 15}},
    ],
    "account_access": [
        {"key": "login", "generic": [],
         "email": ["I can't log into my account[| any more| at all].",
                   "My password isn't [accepted|working] any more, even after [resetting it|I reset it].",
                   "Every time I try to sign in I get [an 'unknown error'|an error message|a blank page]."],
         "chat": ["cant log in", "my password doesnt work anymore", "login keeps failing"],
         "summary": "says they cannot log in to their account",
         "actions": {"unlock_account": 55, "information": 30, None: 15}},
        {"key": "reset_mail", "generic": [],
         "email": ["The password reset email never [arrives|comes through|turns up].",
                   "I've asked for a reset link [three times|twice|several times] and nothing came through[|, not even in spam]."],
         "chat": ["reset email never comes", "asked for a reset link 3 times, nothing"],
         "summary": "says the password reset email never arrives",
         "actions": {"unlock_account": 55, "information": 30, None: 15}},
        {"key": "locked", "generic": [],
         "email": ["My account got locked after too many [attempts|login attempts|tries].",
                   "It says my account is [suspended|blocked] and I have no idea why."],
         "chat": ["account locked after too many tries", "says my account is suspended??"],
         "summary": "says their account is locked",
         "actions": {"unlock_account": 60, "information": 30, None: 10}},
        {"key": "code", "generic": [],
         "email": ["The login code never [reaches my phone|arrives|comes through].",
                   "The [two-step|security] verification code doesn't [come through|arrive]."],
         "chat": ["login code never comes through", "not getting the verification code"],
         "summary": "says the login verification code never arrives",
         "actions": {"unlock_account": 55, "information": 35, None: 10}},
    ],
    "product_question": [
        {"key": "line_question", "generic": [],
         "email": [], "chat": [], "summary": "asks {question}", "actions": {"information": 100}},
        {"key": "stock", "generic": [],
         "email": ["When will {item} be back in stock?", "{Is} {item} available in {colour}?",
                   "Do you know if {item} will be restocked before {month}?",
                   "What's the warranty on {item}?"],
         "chat": ["when is {item} back in stock", "does {item} come in {colour}", "whats the warranty on {item}"],
         "summary": "asks about availability or warranty of {thing}", "actions": {"information": 100}},
        {"key": "shipping", "generic": [], "noproduct": True,
         "email": ["Do you ship to {country}?", "How long does delivery to {country} usually take?",
                   "Can I order from {country}, and are there customs fees?"],
         "chat": ["do u ship to {country}", "how long is delivery to {country}"],
         "summary": "asks about delivery to {country}", "actions": {"information": 100}},
    ],
}

# Asks: one list per action (email, chat); ``information`` asks depend on the issue. Every pool
# string below may hold ``[a|b|c]`` alternatives, expanded by ``vary`` (one entry, many sentences).
ASKS: dict[str, dict[str, list[str]]] = {
    "refund": {"email": ["[Could|Can] I [get|have] a refund, please?", "I'd like my money back[|, please| for this].",
                         "Please refund me[| as soon as you can].", "I want a full refund.",
                         "Please just refund the money.", "Can you refund me for [this|it][| please]?",
                         "I'd [rather|prefer to] have a refund than [wait|go through this again|wait any longer].", "I expect a [full |]refund.",
                         "Please put the money back on my [account|card|original card][| straight away| this week]."],
               "chat": ["refund pls", "i want my money back", "can i get a refund", "just refund me",
                        "money back please"]},
    "replacement": {"email": ["Could you send [a replacement|me a replacement|a new one][|, please]?",
                              "Please send me a new one[|, then| as soon as you can].",
                              "Can you replace it?", "I'd like a replacement, please.",
                              "Could you [send another one out|post another one][| to me]?", "A replacement would be [great|ideal]."],
                    "chat": ["can u send another one", "need a replacement", "send a new one pls",
                             "replacement please"]},
    "cancel_order": {"email": ["Please cancel the order.", "I'd like to cancel it[|, please].",
                               "Can you cancel it and stop the [shipment|delivery][| please]?", "Please just cancel the whole [thing|order].",
                               "Cancel it, please."],
                     "chat": ["cancel it pls", "pls cancel the order", "can u cancel it", "just cancel it"]},
    "track_order": {"email": ["Can you tell me where it is[| now| at the moment]?", "Could you check what's happening with it[| please]?",
                              "When will it actually arrive?", "Please let me know where my [parcel|order|package] is[| now].",
                              "Can you find out where it's stuck?",
                              "Could you give me an update on the [delivery|parcel][|, please]?"],
                    "chat": ["where is it?", "any update??", "whens it coming", "can u check where it is",
                             "eta?"]},
    "update_address": {"email": ["Please send it to my new address in {city} instead.",
                                 "Can you update the delivery address?",
                                 "Could you change the address to my [office|work address|parents' house] in {city}?",
                                 "Can I still change the address?"],
                       "chat": ["can u change the address", "pls ship to {city} instead",
                                "update the address pls"]},
    "unlock_account": {"email": ["Can you unlock my account?", "Please help me get back into my account.",
                                 "Could you reset my access?", "Can you send me a reset link that works?"],
                       "chat": ["can u unlock it", "pls help me get back in", "reset it pls"]},
}
INFO_ASKS: dict[str, dict[str, list[tuple[str, str]]]] = {
    "delivery_delay": {"email": [("What are my options[| now| at this point]?", "asks what their options are"),
                                 ("What should I do [now|next]?", "asks what to do next"),
                                 ("Is there anything I can do [on my end|from my side|myself]?", "asks what they can do")],
                       "chat": [("what can i do", "asks what they can do"), ("what are my options", "asks what their options are")]},
    "damaged_item": {"email": [("What should I do[| next| now]?", "asks what to do next"),
                               ("How do I [make|start] a claim?", "asks how to make a claim"),
                               ("Do you need [photos|pictures][| of it]?", "asks whether photos are needed")],
                     "chat": [("what do i do", "asks what to do next"), ("do u need photos", "asks whether photos are needed")]},
    "wrong_item": {"email": [("What should I do with the [wrong one|one you sent|one I got]?", "asks what to do with the wrong item"),
                             ("[What do I do|What happens] with the [wrong one|one that came]?", "asks what to do with the wrong item"),
                             ("Do I need to send it back first[|, or can I keep it]?", "asks whether to send it back first")],
                   "chat": [("what do i do with it", "asks what to do with the wrong item")]},
    "return_request": {"email": [("How do I return it?", "asks how to return it"),
                                 ("Can you [send|email] me a return label[|, please]?", "asks for a return label"),
                                 ("What's your return process?", "asks about the return process"),
                                 ("Is it still within the return [window|period]?", "asks whether it is still returnable")],
                       "chat": [("how do i return it", "asks how to return it"),
                                ("[can i get|pls send] a return label", "asks for a return label")]},
    "billing_problem": {"email": [("Can you explain this charge[| to me]?", "asks for an explanation of the charge"),
                                  ("Could you send me an invoice[| for it]?", "asks for an invoice"),
                                  ("What happened here?", "asks what happened"),
                                  ("Can you explain what went wrong[| here]?", "asks what went wrong")],
                        "chat": [("whats this charge", "asks for an explanation of the charge"),
                                 ("can u explain what happened", "asks what happened")]},
    "account_access": {"email": [("What should I do[| now]?", "asks what to do"),
                                 ("Is there another way to [verify who I am|prove it's me]?", "asks for another way to verify"),
                                 ("Why is this happening?", "asks why it is happening")],
                       "chat": [("what do i do", "asks what to do"), ("why is this happening", "asks why it is happening")]},
    "order_change": {"email": [("How long do I have to make [changes|changes to it]?", "asks how long they have to make changes"),
                               ("What's the cut-off for changes?", "asks about the cut-off for changes")],
                     "chat": [("how long do i have to change it", "asks how long they have to make changes")]},
}
NULL_STATEMENTS = {"email": ["Just wanted to let you know.",
                             "Not sure there's anything you can do, but I [wanted to flag it|thought you should know].",
                             "Consider this feedback.", "Just letting you know.", "Posting this so you're aware.",
                             "[No need to do anything|Nothing to do on your side], I just [wanted you to know|thought I'd mention it].",
                             "I'm [only|just] [telling you|writing] so [you know|it's on record]."],
                   "chat": ["just fyi", "just letting u know", "fyi"]}
ACTION_SUMMARY = {"refund": "wants a refund", "replacement": "wants a replacement",
                  "cancel_order": "wants the order cancelled", "track_order": "asks where the order is",
                  "update_address": "wants the delivery address changed",
                  "unlock_account": "wants the account unlocked"}
EXCHANGE_ASKS = {"size": {"email": ["Can I swap it for {size2}?", "Could you send me the right size instead?",
                                    "Can I exchange it for a different size?"],
                          "chat": ["can i swap it for {size2}", "can i exchange it", "need the right size instead"]},
                 "colour": {"email": ["I'd like to exchange it for the {colour2} one.", "Can I swap it for {colour2}?",
                                      "Can I exchange it for the other colour[| instead]?"],
                            "chat": ["can i swap it for {colour2}", "can i exchange it"]}}

# Secondary remarks: a lower-priority issue mentioned on the side, (e-mail, chat, summary). {oorder}/{oitem}
# are a different order/product and must not be extracted, so each remark names itself a side remark
# ("also", "separately", "by the way", "unrelated") and an {oorder} always follows "other/second order".
SIDE = "[Also|Separately|By the way]"
SECONDARY: dict[str, list[tuple[str, str, str]]] = {
    "delivery_delay": [(SIDE + ", my [other|second] order {oorder} is [late too|running late as well|not here either].",
                        "[also|btw] my other order {oorder} is late too", "another late order"),
                       (SIDE + ", {oitem} from a [separate|different] order still hasn't turned up.",
                        "[also|btw] {oitem} from another order [still hasnt turned up|hasnt come yet]", "another late delivery")],
    "billing_problem": [(SIDE + ", I think I was charged for [shipping|delivery] even though it [should have been|was meant to be] free.",
                         "also charged for shipping??", "an unexpected shipping charge"),
                        (SIDE + ", there's a [small|separate] charge on my [statement|card] I don't recognise.",
                         "[also|btw] theres a [charge|payment] i dont recognise[| on my card]", "an unrecognised charge")],
    "return_request": [("I'd also like to send back {oitem} at some point - how does that work?",
                        "also can i send back {oitem}", "a possible return of another item"),
                       (SIDE + ", can I still send back {oitem}[| too]?", "[also|btw] can i still send back {oitem} too",
                        "a possible return of another item")],
    "order_change": [(SIDE + ", I've moved, so please update my address for [future orders|next time|anything I order later].",
                      "[also|btw] pls update my address for [next time|future orders]", "an address change for future orders")],
    "account_access": [(SIDE + ", your [website|app] keeps logging me out.",
                        "[also|btw] ur [site|app|website] keeps logging me out", "a login problem"),
                       (SIDE + ", I had to reset my password [twice|three times] [to log in|this week].",
                        "[btw|also] had to reset my password [twice|3 times]", "a login problem")],
    "product_question": [("Unrelated, but does {oitem} come in other [colours|sizes]?",
                          "unrelated but does {oitem} come in other [colours|sizes]", "a question about another product"),
                         (SIDE + ", is {oitem} back in stock yet?", "also is {oitem} back in stock", "a question about another product")],
}

# Background details: add length and realism, never change a label, never name a product, an order
# or a cue of another label. Coherent by construction: a message draws one customer history (new,
# returning or unsaid) and at most one note about the device it is written on.
DETAILS_TIMING = ["I [ordered|bought] {it} as a [birthday|wedding|leaving|housewarming] [present|gift] for my "
                  "[sister|brother|mum|dad|best friend|colleague].",
                  "This was meant to be a [gift|present], so the timing [matters|is important|is a bit tight].",
                  "I need {it} for a [trip|holiday|camping trip|family visit] [next weekend|at the end of the month|next week].",
                  "I'm away from the [20th|15th|end of the month|start of next month], "
                  "so [sooner is better|the sooner the better|I'd like it before then]."]
DETAILS_PAID = ["I [paid|chose|went] [for standard|extra for express|for next-day|for tracked] delivery[| at checkout| on this one]."]
DETAILS_AT_HOME = ["I live in a flat, so parcels usually go to the [concierge|reception desk|porter].",
                   "I [work from home|am at home most days], so [someone is always in|there's usually someone in]."]
AT_HOME_THAT_DAY = "I [work from home|was in all day|was at home that day], so [I'd have heard the door|I'd have seen a courier]."
DETAILS_ORDER = ["My [partner|husband|wife|flatmate|mum|dad] placed the order [on my account|for me|using my account].",
                 "I [placed|made] the order [on the app|on your website|from my laptop|late one evening|on my phone|"
                 "at work|over the weekend].",
                 "I paid [by debit card|by credit card|with PayPal|with a gift card|with my usual card|using a voucher]"
                 "[| at checkout| as usual]."]
DETAILS_HISTORY = {
    "returning": ["I've [ordered|bought] from you [a few|several|lots of|plenty of] times [before|over the years]"
                  "[| and this hasn't happened before].",
                  "[This isn't|It's not] my first order from you[| by any means]."],
    "new": ["This was my [first|very first] order [from you|with you|on your site].",
            "I only [signed up|made an account] [last week|recently|this month][| to place this order]."],
}
DEVICE_NOTES = ["[I'm writing|I'm typing this|This is] from my phone, so [sorry for|excuse|please excuse|apologies for] "
                "any [mistakes|typos|odd spelling].",
                "[Sorry for|Excuse|Apologies for] any typos, I'm [on my phone|typing on my phone|writing this on the train|on a tiny screen].",
                "I'm writing from my [partner's|sister's|work|friend's] laptop[| today|, in case the address looks odd]."]
DETAILS_GENERAL = ["[I checked|I've looked through|I read through] your [help pages|FAQ|help centre] [but couldn't "
                   "find an answer|and couldn't see anything about this|but they didn't cover this].",
                   "[I [did try|tried] the [live chat|chat on your website] first, but [it kept timing out|nobody "
                   "answered|it kept disconnecting|the wait was over an hour|I gave up after a while].|I tried "
                   "[calling|ringing|phoning] first, but [nobody picked up|the wait was over an hour|I gave up after a "
                   "while|the line was busy].]",
                   "I'd [rather|prefer to] [sort this out|deal with this|handle this] [by email|in writing|over email] "
                   "[if that's OK|than on the phone|if possible].",
                   "I'm [around|at home|reachable here] [most of this week|all week|until Friday] if you need "
                   "[anything else|more details] from me.",
                   "[I can send|I'm happy to send|I can forward] [screenshots|more details|anything else you need] if "
                   "[that helps|it's useful|you need it]."]
DETAILS: dict[str, list[str]] = {
    "delivery_delay": ["I've been [in|at home] [all week|most of the week|every day] [waiting for it|so I wouldn't miss it].",
                       "The confirmation email [promised|said] delivery within [two|three|five] [days|working days]."],
    "damaged_item": ["I've kept [all the packaging|the box and the packaging|everything {they} came in].",
                     "I have [photos|pictures] of [{it}|the damage][| if you need them]."],
    "wrong_item": ["I double-checked my order confirmation before [writing|getting in touch|contacting you]."],
    "billing_problem": ["I've checked my [banking app|bank statement|card statement] [twice|again this morning|a couple of times].",
                        "I only noticed it when I looked at my statement [this morning|last night|at the weekend]."],
    "return_request": ["I [bought|ordered] {it} about [two|three|four] weeks ago.",
                       "Everything is still [unopened|in the box|in the original packaging][| with the labels on].",
                       "I haven't used {it} [at all|more than once|since {they} arrived]."],
    "order_change": ["The order confirmation says it ships on [Monday|Wednesday|Thursday|Friday].",
                     "I only placed the order [this morning|last night|an hour ago|yesterday].",
                     "The [tracking|order] page still says '[processing|being prepared]'."],
    "account_access": ["I've tried [two|three] different browsers[| and the app].",
                       "I've cleared my [cookies|cache|browser history] and tried again.",
                       "The [app|mobile app] [gives me|shows] the same [error|message].",
                       "I [only|just] wanted to [look at my orders|update my details|see my order history]."],
    "product_question": ["I'd like to order before [the weekend|Friday|the end of the month].",
                         "[Any help|A quick answer] would be [appreciated|great|useful] before I [order|decide]."],
}
DETAILS_SCEN: dict[str, list[str]] = {
    "late": ["The courier's [website|app|tracking page] just says '[in transit|on its way|with the courier]'.", AT_HOME_THAT_DAY,
             "[Nobody|No courier] has [tried to deliver it|knocked|left a card] as far as I can tell."],
    "stuck": ["The courier's [website|app|tracking page] just says '[in transit|on its way|at the depot]'.",
              "[It's|It has been] at the [same|local] depot [for days|since the weekend|all week]."],
    "marked_delivered": [AT_HOME_THAT_DAY,
                         "I've checked with [my neighbours|the neighbours|next door] and [the building's reception|"
                         "the concierge|my flatmates].",
                         "There's no photo [of the delivery|of the parcel] in the [app|tracking][| either].",
                         "[We have|There's] a doorbell camera and [no courier|nobody] came [that day|to the door]."],
    "arrived_broken": ["The outer box looked [fine|perfectly fine|undamaged], oddly.",
                       "[I noticed|I spotted] the damage as soon as I [unpacked|opened] the [box|parcel].",
                       "The [parcel|box] was [dented|squashed|wet] when it [came|got here]."],
    "faulty": ["I've only used {it} as described in the [instructions|manual|leaflet].",
               "I've [tried {it} again|given {it} another go|checked {it} again] and [nothing changed|nothing has changed]."],
    "wrong_product": ["The [packing slip|delivery note] [lists|shows] [the right item|what I ordered], so the "
                      "[mix-up|mistake] must have happened [in the warehouse|when it was packed].",
                      "I haven't [opened|used|unwrapped] the one you sent."],
    "wrong_variant": ["The [packing slip|delivery note] [lists|shows] [the right one|what I ordered], so the "
                      "[mix-up|mistake] must have happened [in the warehouse|when it was packed].",
                      "I haven't used {it}[| at all] and {its} [still in the bag|back in the packaging]."],
    "missing_piece": ["Everything else in the order was [correct|fine|there].",
                      "The [packing slip|delivery note] [lists|includes] {it}, so [something went wrong at packing|the box was packed short]."],
    "wrong_amount": ["The [order confirmation|receipt|confirmation email] [shows|says] [the lower amount|a lower total]."],
    "promo": ["The [order confirmation|receipt|confirmation email] [shows|says] [the full price|no reduction]."],
    "charged_twice": ["[Only one|Just one] order shows up in my account."],
    "refund_missing": ["It's been [over a week|two weeks|ten days] since [you confirmed it|the return was received|I got the confirmation]."],
    "changed_mind": ["The [colour|finish] looked different [on the website|in the photos|online].",
                     "{Its} [a bit|much] [bigger|smaller|heavier] than I [expected|thought]."],
    "own_mistake": ["[That's|It's] my [mistake|fault], not yours.",
                    "[I should have looked|I didn't look] more carefully [before ordering|at the options]."],
    "address": ["[I moved|We moved] [last week|at the weekend|recently] and [forgot to update|didn't update] my details."],
    "cancel": ["[Nothing has been|The order hasn't been] [dispatched|sent out] yet as far as I can see."],
    "reset_mail": ["I've checked my spam folder [too|as well|twice]."],
    "code": ["My phone [number|signal] is [fine|the same as always], as far as I know."],
    "line_question": ["I'm thinking of [buying|ordering|getting] {it} as a [gift|present|birthday present].",
                      "I couldn't [find this|see this mentioned|find the answer] [on the product page|in the description].",
                      "The [reviews|customer reviews|questions section] [don't really say|don't mention it]."],
    "stock": ["I'm thinking of [buying|ordering|getting] {it} as a [gift|present|birthday present].",
              "I couldn't [find this|see this mentioned|find the answer] [on the product page|in the description]."],
    "shipping": ["I'm [thinking of ordering|hoping to order|planning to send] [a gift|a few things] to [family|a friend|my parents] there.",
                 "I couldn't [find this|see this mentioned] on your delivery page."],
}
CHAT_DETAILS = ["on my phone sorry", "tried the help page already"]
CHAT_DETAILS_ORDER = ["first time ordering here", "ordered from u loads before"]
CHAT_DETAILS_TIMING = ["its a gift", "need it by the weekend"]

GREETINGS = ["Hi,", "Hello,", "Dear Larkspur team,", "Hi there,", "Good morning,", "To whom it may concern,",
             "Hey,", "Dear Customer Service,", "Hello Larkspur,", "Hi team,", "Good afternoon,", "Dear Sir or Madam,"]
OPENERS = ["I hope you're [well|keeping well|having a good week].",
           "I'm [writing|getting in touch|emailing] about [a recent order|an order I placed recently|something I bought from you].",
           "Sorry to bother you[| with this| again| on a weekend].", "Quick one, hopefully.",
           "I need [some help|a hand] with [an order|something I ordered|a recent purchase].",
           "Apologies for the [long|slightly long|rather long|lengthy] message.",
           "Hope this is the right [place|address|team] to [ask|write to].",
           "[I'm hoping|Hopefully] you can help [me with this|me with something|with this|me out].",
           "I've never [had to contact|needed to write to|had to email] your [support team|customer service|support people] before."]
OPENERS_HISTORY = {"returning": ["I've been a customer for [a few|several|a couple of|many] years now.",
                                 "I've shopped with you [for a while|for years|many times] now."],
                   "new": ["First time contacting you[| here].",
                           "I'm a [new|first-time] customer, so [bear with me|I'm not sure how this works]."]}
CLOSERS = ["Thanks in advance.", "Looking forward to [hearing from you|your reply|hearing back][| soon].", "Thanks.", "Thank you.",
           "Kind regards,", "Best regards,", "Cheers,", "Many thanks,", "Regards,", "Best,",
           "Thanks for [your help|looking into this|your time].", "Speak soon,",
           "Hope to hear from you [soon|shortly|this week|before long][| about this].",
           "Thanks again,", "All the best,", "I'd appreciate a [quick|prompt] reply."]
NEG_TONE = ["This is [really|incredibly|so] frustrating.", "I'm [very|really|pretty|extremely] disappointed[| with this].",
            "Honestly, this is unacceptable.", "Not impressed[| at all].",
            "I'm [losing patience|running out of patience] [here|with this].",
            "[Worst|The worst] experience I've had with an online shop[| in years].",
            "I'm [really|genuinely] upset about this.",
            "Absolutely fed up.", "I [expected|honestly expected] better [from you|than this]."]
NEG_TONE_RETURNING = ["This is the [second|third] time this has happened and I'm [annoyed|fed up|not happy].",
                      "I [normally|usually] [love|enjoy] [shopping here|ordering from you], but this is ridiculous."]
SARCASM = ["Great, just great.", "Wonderful. Really top-notch service.", "Thanks a lot for nothing.",
           "Fantastic job as always, guys.", "Love that for me.",
           "Amazing service, five stars (not).", "Well done, really impressive."]
# Positive tone: any message / about a problem / from a returning customer.
POS_TONE = ["You guys are great, honestly.", "Big fan of your shop!",
            "I really [like|love] your [shop|products|website][|, honestly].",
            "[Your shop|Your website] is [lovely|a joy to use|my favourite], [honestly|for what it's worth]."]
POS_TONE_PROBLEM = ["[Everything else about|The rest of] your [shop|service] has been [lovely|brilliant|great], so I'm sure you can sort this.",
                    "Your [products|things] are [lovely|brilliant|great], [so|and] I'm [sure|confident] you'll [sort this|put it right]."]
POS_TONE_RETURNING = ["I've been so pleased with Larkspur so far.",
                      "Really happy with everything else I've bought from you!",
                      "Loved how quickly my last order came, thank you so much!"]
POS_TONE_RETURNING_PROBLEM = ["I love your shop and this is the first time anything has gone wrong.",
                              "Your team was super helpful last time, so I'm sure you can sort this."]
CHAT_NEG = ["ugh", "this is ridiculous", "seriously??", "so annoyed", "not happy", "really fed up"]
CHAT_SARC = ["great service guys", "wow amazing service", "thanks for nothing", "well done guys, really"]
CHAT_POS = ["love your shop btw", "you guys are great :)", "[thanks so much|thank u|thanks a lot], love the [stuff|shop|products]", "big fan btw!"]
CHAT_HELLO = ["hi", "hello", "hey", "hi there", "hiya", "good morning"]
QUOTE_HEADERS = ["On {date}, {store} Support wrote:", "{agent} from {store} wrote on {date}:",
                 "-----Original message-----\nFrom: {store} Customer Care\nSent: {date}\nSubject: Re: your order"]
# An earlier reply from support, quoted below the customer's message: a family per kind of issue,
# so the thread fits the message (QUOTE_KIND). Each names an older order {old}, never the answer.
QUOTE_HI = "[Hi|Hello|Dear] {cname}, "
QUOTE_KIND = {"delivery_delay": "delivery", "damaged_item": "damage", "wrong_item": "wrong",
              "billing_problem": "billing", "return_request": "return", "order_change": "order",
              "account_access": "account", "product_question": "order"}
QUOTE_BODIES: dict[str, list[str]] = {
    "delivery": [QUOTE_HI + "thanks for [getting in touch|your message] about order {old}. We've [asked the courier to "
                 "look into it|opened an enquiry with the courier|chased this with our delivery partner] and will "
                 "[update you|get back to you|be in touch] within [two|three] working days.",
                 QUOTE_HI + "your order {old} ({oldprod}) has been dispatched and should reach you within "
                 "[three to five|two to four] working days.",
                 QUOTE_HI + "we're sorry order {old} is [taking longer than expected|running late]. [The courier says "
                 "it is on its way.|It is still with the courier and should move again soon.|We'll keep an eye on it "
                 "for you.]"],
    "damage": [QUOTE_HI + "we're sorry to hear about the problem with your {oldprod} from order {old}. Could you "
               "[tell us a bit more|send us a photo|describe what happened]?",
               QUOTE_HI + "thanks for the [photos|pictures] of your {oldprod} (order {old}). [We've arranged a "
               "replacement for you.|A replacement is on its way to you.|We've started a claim with the courier.]"],
    "wrong": [QUOTE_HI + "thanks for getting in touch about order {old}. We've passed this on to the warehouse and "
              "will [update you|be in touch] within [two|three] working days.",
              QUOTE_HI + "we're sorry about the mix-up with order {old}. [The correct {oldprod} is on its way.|We'll "
              "send the right one out today.|Our warehouse team is looking into it.]"],
    "billing": [QUOTE_HI + "we have issued a refund for order {old}. It may take [a few|three to five|up to ten] "
                "[days|working days] to show on your statement.",
                QUOTE_HI + "thanks for your message about the payment for order {old}. [Our payments team is looking "
                "into it.|We've asked our payments team to check the charge.|We'll reply as soon as we hear from the "
                "bank.]"],
    "return": [QUOTE_HI + "thanks for sending back your {oldprod} (order {old}). [We've received it and your refund "
               "is on its way.|We'll process it as soon as it reaches our warehouse.]",
               QUOTE_HI + "here is the return label for order {old}. [Please drop the parcel at any post office.|"
               "Please use it within the next two weeks.|You can print it or show it on your phone.]"],
    "order": [QUOTE_HI + "thank you for your order {old}. We'll [let you know|email you|send you a message] as soon "
              "as it [ships|leaves our warehouse|is on its way].",
              QUOTE_HI + "we've updated order {old} as [requested|you asked]. [You'll get a new confirmation "
              "[shortly|by email].|Nothing else needs to be done on your [side|part].|The changes will show in your "
              "account [shortly|within the hour].]"],
    "account": [QUOTE_HI + "thanks for your message about order {old}. [We've sent a [password reset link|new reset "
                "link|fresh reset link] to [the address on your account|your email address].|We've unlocked your "
                "account, so you should be able to sign in [again|now].]",
                QUOTE_HI + "you can see order {old} once you're signed in. [For security reasons we can't change "
                "account details by email.|If signing in fails again, reply to this message.]"],
}
QUOTE_REPLY_OPENERS = ["Thanks for your reply.",
                       "[Following up on|Replying to|Coming back to] [the message|your email|your reply|your last "
                       "message] below.",
                       "Sorry, one more thing.",
                       "Thanks for [getting back to me|the update|your help], but there's [a new problem|something else now|another problem]."]


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------
def normalise_text(text: str) -> str:
    """Lowercase, strip punctuation, collapse whitespace: the key used for duplicate checks."""
    table = str.maketrans({c: " " for c in string.punctuation})
    return " ".join(text.lower().translate(table).split())


def weighted(rng: random.Random, weights: dict[Any, int]) -> Any:
    """One key of ``weights`` drawn with the given integer weights (dict order is insertion order)."""
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys], k=1)[0]


def cap(text: str) -> str:
    """Upper-case the first character."""
    return text[:1].upper() + text[1:] if text else text


def fill(template: str, values: dict[str, str]) -> str:
    """Replace ``{name}`` placeholders; unknown names are left untouched."""
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


ALTERNATIVES = re.compile(r"\[([^\[\]]*)\]")


def vary(template: str, rng: random.Random) -> str:
    """Expand every ``[a|b|c]`` group of a pool string into one alternative drawn from ``rng``.

    Groups may nest (the innermost is expanded first) and an alternative may be empty:
    ``"Quick one[|, hopefully]."`` gives two sentences, ``"I [did try|tried] it"`` two more.
    """
    while True:
        m = ALTERNATIVES.search(template)
        if m is None:
            return re.sub(r"  +", " ", template)
        template = template[:m.start()] + rng.choice(m.group(1).split("|")) + template[m.end():]


def pick(pool: list[str], rng: random.Random) -> str:
    """One entry of ``pool``, its alternatives expanded."""
    return vary(rng.choice(pool), rng)


# A "sentence" for the template check: text between sentence ends or line breaks, lower-cased,
# without quote markers and surrounding punctuation.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def long_sentences(text: str, min_words: int = 6) -> list[str]:
    """The sentences of ``text`` with at least ``min_words`` words, normalised for counting."""
    out = []
    for part in SENTENCE_END.split(text):
        key = " ".join(re.sub(r"^[\W_]+|[\W_]+$", "", part.lower().lstrip("> ")).split())
        if len(key.split()) >= min_words:
            out.append(key)
    return out


def most_repeated_sentence(texts: list[str], min_words: int = 6) -> tuple[str, float]:
    """The long sentence found in the most ``texts`` and the share of texts holding it (0.0 if none).

    A generator that pastes the same sentence into many rows teaches a model a template; the data
    tests require every split's share to stay at or below 5% (``tests/test_data_files.py``).
    """
    counts: dict[str, int] = {}
    for text in texts:
        for sentence in dict.fromkeys(long_sentences(text, min_words)):
            counts[sentence] = counts.get(sentence, 0) + 1
    if not counts or not texts:
        return "", 0.0
    best = max(counts, key=lambda s: (counts[s], s))
    return best, counts[best] / len(texts)


def add_typos(text: str, rng: random.Random, n: int) -> str:
    """Introduce ``n`` single-character typos into plain words (never inside placeholders)."""
    parts = re.split(r"(\{\w+\}|[A-Za-z]+)", text)
    idx = [i for i, p in enumerate(parts) if p.isalpha() and len(p) >= 4 and p.islower()]
    for i in rng.sample(idx, min(n, len(idx))):
        w = parts[i]
        k = rng.randrange(1, len(w) - 1)
        op = rng.randrange(3)
        if op == 0:
            w = w[:k] + w[k + 1] + w[k] + w[k + 2:]
        elif op == 1:
            w = w[:k] + w[k + 1:]
        else:
            w = w[:k] + w[k] + w[k:]
        parts[i] = w
    return "".join(parts)


def is_plural(noun_phrase: str) -> bool:
    """True for 'the Merino crew socks' or 'my boots', false for 'the Pillar bookshelf' or 'my order'."""
    if noun_phrase.lower().startswith("one of"):
        return False
    last = noun_phrase.split()[-1].lower() if noun_phrase.split() else ""
    return last.endswith("s") and not last.endswith("ss")


def agreement(plural: bool) -> dict[str, str]:
    """Verb and pronoun forms that agree with the item mention ({is}, {was}, {it} object, {they} subject, ...)."""
    if plural:
        return {"is": "are", "was": "were", "has": "have", "does": "do", "isnt": "aren't", "wasnt": "weren't",
                "hasnt": "haven't", "doesnt": "don't", "s": "", "it": "them", "they": "they", "its": "they're",
                "Is": "Are", "Does": "Do"}
    return {"is": "is", "was": "was", "has": "has", "does": "does", "isnt": "isn't", "wasnt": "wasn't",
            "hasnt": "hasn't", "doesnt": "doesn't", "s": "s", "it": "it", "they": "it", "its": "it's", "Is": "Is",
            "Does": "Does"}


def luhn_digit(digits: str) -> str:
    """The Luhn check digit that makes ``digits + d`` valid."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def dump_output(obj: dict[str, Any]) -> str:
    """The canonical output string: compact JSON, keys in schema order."""
    return json.dumps({k: obj[k] for k in FIELDS}, ensure_ascii=False)


class Ids:
    """Unique order ids and tracking numbers across every file (allocated in a fixed order)."""

    def __init__(self, rng: random.Random) -> None:
        """Draw the whole order-id pool up front from ``rng``."""
        self.orders = rng.sample(range(10000, 100000), 12000)
        self.rng = rng
        self.used_tracking: set[str] = set()

    def order(self) -> str:
        """A fresh order id, e.g. ORD-48213."""
        return f"ORD-{self.orders.pop()}"

    def tracking(self) -> str:
        """A fresh tracking number (1Z... or TRK-...), never with three digits in a row."""
        while True:
            letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
            out = []
            run = 0
            for _ in range(8):
                if run >= 2 or self.rng.random() < 0.55:
                    out.append(self.rng.choice(letters))
                    run = 0
                else:
                    out.append(self.rng.choice("23456789"))
                    run += 1
            code = "".join(out)
            tn = ("1Z" + code) if self.rng.random() < 0.5 else ("TRK-" + code[:6])
            if tn not in self.used_tracking:
                self.used_tracking.add(tn)
                return tn


# ---------------------------------------------------------------------------------------------
# Profiles: how often each hard case appears in a split
# ---------------------------------------------------------------------------------------------
PQ_SENTIMENT = {"neutral": 60, "positive": 30, "negative": 10}
SELF_NEG = {"email": ["Honestly, your [website|site|app] makes this [really|so|incredibly] frustrating.",
                     "I tried to sort this out [myself|on my own] [online|on the website] and it's been a frustrating [waste of time|hour|morning].",
                     "I'm [annoyed|really annoyed|quite annoyed] that this isn't easier to do [on the website|online|in the app]."],
            "chat": ["ur [website|site|app] makes this so annoying", "so frustrating that i cant do this [online|on the site|myself]"]}
PQ_NEG = ["The product page doesn't say, which is [really|quite|so] frustrating.",
          "I asked this in the chat [last week|a few days ago|twice] and never got an answer, which is [annoying|frustrating]."]

PROFILES: dict[str, dict[str, Any]] = {
    "standard": {"chat": 0.25, "quote": 0.3, "secondary": 0.18, "tracking": 0.2, "order": 0.72,
                 "order_alt": 0.3, "product": 0.65, "kind_noun": 0.55, "two_products": 0.12,
                 "sentiment": {"negative": 40, "neutral": 42, "positive": 18}, "sarcasm": 0.3,
                 "typos": 0.4, "lines": {"apparel": 30, "home": 25, "electronics": 25, "outdoor": 20},
                 "issue": {"delivery_delay": 20, "damaged_item": 16, "wrong_item": 13, "billing_problem": 13,
                           "return_request": 12, "order_change": 9, "account_access": 8, "product_question": 9}},
    "hard": {"chat": 0.3, "quote": 0.35, "secondary": 0.35, "tracking": 0.35, "order": 0.7,
             "order_alt": 0.45, "product": 0.6, "kind_noun": 0.6, "two_products": 0.25,
             "sentiment": {"negative": 45, "neutral": 35, "positive": 20}, "sarcasm": 0.5,
             "typos": 0.4, "lines": {"apparel": 30, "home": 25, "electronics": 25, "outdoor": 20},
             "issue": {"delivery_delay": 18, "damaged_item": 15, "wrong_item": 14, "billing_problem": 14,
                       "return_request": 12, "order_change": 9, "account_access": 9, "product_question": 9}},
    "shifted": {"chat": 0.8, "quote": 0.08, "secondary": 0.1, "tracking": 0.2, "order": 0.6,
                "order_alt": 0.3, "product": 0.7, "kind_noun": 0.5, "two_products": 0.05,
                "sentiment": {"negative": 45, "neutral": 40, "positive": 15}, "sarcasm": 0.3,
                "typos": 0.55, "lines": {"pet": 58, "apparel": 12, "home": 10, "electronics": 12, "outdoor": 8},
                "issue": {"delivery_delay": 22, "damaged_item": 18, "wrong_item": 12, "billing_problem": 10,
                          "return_request": 12, "order_change": 8, "account_access": 6, "product_question": 12}},
}


# ---------------------------------------------------------------------------------------------
# Rendering one message
# ---------------------------------------------------------------------------------------------
def order_mention(oid: str, rng: random.Random, prof: dict[str, Any], chat: bool, tags: list[str]) -> str:
    """How the customer writes the order id; non-canonical forms are normalised in the label."""
    num = oid[4:]
    if rng.random() < prof["order_alt"]:
        tags.append("order_id_normalised")
        return rng.choice([f"#{num}", num, f"ord-{num}", f"#{num}", f"Ord-{num}"])
    return f"ord-{num}" if chat and rng.random() < 0.3 else oid


def when_phrase(rng: random.Random) -> str:
    """A vague past date such as 'last Monday' or 'on 12 March'."""
    options = ["last Monday", "last Friday", "on Tuesday", "yesterday", "last week",
               f"on {rng.randint(1, 28)} {rng.choice(MONTHS)}", f"on the {rng.choice(['3rd', '9th', '14th', '21st', '28th'])}",
               "at the weekend", "a couple of days ago"]
    return rng.choice(options)


def days_phrase(rng: random.Random) -> str:
    """A duration such as 'ten days'."""
    return rng.choice(["ten days", "two weeks", "over a week", f"{rng.randint(5, 19)} days", "almost three weeks",
                       "nearly a month", "six working days"])


def item_mention(name: str, rng: random.Random, chat: bool) -> str:
    """How a named catalogue product appears in text (the label is always the catalogue name)."""
    shown = name.lower() if (chat and rng.random() < 0.6) or rng.random() < 0.15 else name
    forms = ["the {n}", "my {n}", "the {n}"]
    return rng.choice(forms).format(n=shown)


def pick_product(rng: random.Random, prof: dict[str, Any]) -> tuple[str, tuple[str, str]]:
    """A product line and a product from it, drawn with the profile's weights."""
    line = weighted(rng, prof["lines"])
    return line, rng.choice(CATALOGUE[line])


def other_product(rng: random.Random, exclude: str) -> str:
    """Another catalogue product from the training lines (a distractor)."""
    while True:
        line = rng.choice(TRAIN_LINES)
        name = rng.choice(CATALOGUE[line])[0]
        if name != exclude:
            return name


def make_spec(rng: random.Random, prof: dict[str, Any]) -> dict[str, Any]:
    """Draw the labels and the hard-case switches for one message."""
    issue = weighted(rng, prof["issue"])
    scen = rng.choice(SCENARIOS[issue])
    action = weighted(rng, scen["actions"])
    sentiment = weighted(rng, prof["sentiment"] if issue != "product_question" else PQ_SENTIMENT)
    chat = rng.random() < prof["chat"]
    line, (pname, noun) = pick_product(rng, prof)
    has_item = issue != "account_access" and not scen.get("noproduct")
    named = has_item and (rng.random() < prof["product"] or scen["key"] in ("line_question", "stock"))
    return {"issue": issue, "scenario": scen, "action": action, "sentiment": sentiment, "chat": chat,
            "line": line if has_item else None, "pname": pname, "noun": noun, "named": named,
            "has_item": has_item}


def render(spec: dict[str, Any], rng: random.Random, prof: dict[str, Any], ids: Ids) -> dict[str, Any]:
    """Write the message text for a spec and derive the labels, summary and tags."""
    issue, scen, action, chat = spec["issue"], spec["scenario"], spec["action"], spec["chat"]
    sentiment = spec["sentiment"]
    reg = "chat" if chat else "email"
    tags: list[str] = []
    product: str | None = None
    vals: dict[str, str] = {"store": STORE, "when": when_phrase(rng), "days": days_phrase(rng),
                            "since": rng.choice(["Monday", "last Tuesday", "the 3rd", "the weekend", "Friday",
                                                 f"{rng.randint(1, 28)} {rng.choice(MONTHS)}"]),
                            "short": rng.choice(["two days", "a week", "three uses", "one afternoon", "a fortnight"]),
                            "colour": rng.choice(COLOURS), "size": rng.choice(SIZES), "city": rng.choice(CITIES),
                            "country": rng.choice(COUNTRIES), "month": rng.choice(MONTHS),
                            "code": rng.choice(CODES) + str(rng.choice([10, 15, 20, 25])),
                            "pct": rng.choice(["10%", "15%", "20%", "a quarter"])}
    vals["colour2"] = rng.choice([c for c in COLOURS if c != vals["colour"]])
    vals["size2"] = rng.choice([s for s in SIZES if s != vals["size"]])
    vals["defect"] = rng.choice(DEFECTS[spec["line"] or "home"])
    vals["damage"] = rng.choice(DAMAGE[spec["line"] or "home"])
    two_products = False
    if spec["has_item"]:
        if spec["named"]:
            product = spec["pname"]
            if (scen["key"] in ("arrived_broken", "faulty", "missing_piece", "changed_mind", "wrong_variant")
                    and not chat and rng.random() < prof["two_products"]):
                two_products = True
                tags.append("two_products")
                vals["item"] = rng.choice(["the ", "my "]) + spec["noun"]
            else:
                vals["item"] = item_mention(spec["pname"], rng, chat)
            thing = "the " + spec["pname"]
        elif rng.random() < prof["kind_noun"] or not scen["generic"]:
            vals["item"] = rng.choice(["the ", "my "]) + spec["noun"]
            thing = spec["noun"] if spec["noun"].endswith("s") else ("an " if spec["noun"][0] in "aeiou" else "a ") + spec["noun"]
            tags.append("unnamed_product")
        else:
            vals["item"] = rng.choice(scen["generic"])
            thing = "their order" if re.search(r"order|parcel|package|delivery", vals["item"]) else "an item"
            tags.append("generic_item")
    else:
        thing = "their account" if issue == "account_access" else "a product"
    vals["other"] = other_product(rng, spec["pname"]) if rng.random() < 0.6 else rng.choice(
        ["someone else's order", "a completely different item", "a pair of kids' shoes", "a box of cables"])
    if scen["key"] == "wrong_product" and vals["other"][:1].isupper():
        vals["other"] = rng.choice(["the ", "a "]) + vals["other"]
        tags.append("distractor_product")
    vals.update(agreement(is_plural(vals.get("item", "it"))))
    vals["Item"] = cap(vals.get("item", ""))
    vals["thing"] = thing

    # issue sentence
    summary_core = scen["summary"]
    if scen["key"] == "line_question":
        q, qs = rng.choice(QUESTIONS[spec["line"]])
        issue_sent = q if not chat else q.lower().rstrip("?")
        vals["question"] = fill(qs, vals)
        summary_core = "asks {question}"
    else:
        options = scen[reg]
        if spec["line"] != "apparel":
            options = [t for t in options if "size" not in t]
        issue_sent = vary(rng.choice(options), rng)
    n_typos = 0
    if rng.random() < prof["typos"]:
        n_typos = rng.choice([1, 1, 2, 3]) if chat else rng.choice([1, 1, 2])
        tags.append("typos")

    # order id
    order_id: str | None = None
    order_text = ""
    use_order = spec["has_item"] or (issue == "account_access" and rng.random() < 0.3)
    if issue == "product_question":
        use_order = False
    if use_order and rng.random() < prof["order"]:
        order_id = ids.order()
        order_text = order_mention(order_id, rng, prof, chat, tags)

    # tracking number (never the order id)
    track_sent = ""
    if issue in ("delivery_delay", "damaged_item", "wrong_item") and rng.random() < prof["tracking"]:
        tn = ids.tracking()
        tags.append("tracking_number")
        if chat:
            track_sent = rng.choice([f"tracking {tn}", f"tracking no {tn}", f"({tn})"])
        else:
            track_sent = rng.choice([f"The tracking number is {tn}.", f"Tracking: {tn}.",
                                     f"I have the tracking number {tn} if that helps.",
                                     f"The courier's tracking ({tn}) isn't much help either."])

    # second product named in context (the issue is about the first one named in the issue)
    context_sents: list[str] = []
    if two_products:
        other = other_product(rng, spec["pname"])
        pair = [spec["pname"], other] if rng.random() < 0.5 else [other, spec["pname"]]
        context_sents.append(f"I ordered the {pair[0]} and the {pair[1]}.")
    if order_text and not chat:
        if issue == "account_access":
            ctx = rng.choice(["I'm trying to check on order {o}.", "I need to see the status of order {o}.",
                              "I wanted to look at my order {o}."])
        else:
            ctx = rng.choice(["This is about order {o}.", "My order number is {o}.", "Regarding order {o}:",
                              "I placed order {o} online.", "Order: {o}.", "Order no. {o}.", "Reference: {o}.",
                              "(Order {o}.)"])
        context_sents.append(fill(ctx, {"o": order_text, "when": vals["when"]}))

    # ask
    ask = ""
    info_summary = ""
    if action is None:
        if rng.random() < 0.6:
            ask = pick(NULL_STATEMENTS[reg], rng)
    elif action == "information":
        if issue == "product_question":
            ask = ""
        else:
            ask, info_summary = rng.choice(INFO_ASKS[issue][reg])
            ask = vary(ask, rng)
    elif action == "replacement" and scen["key"] == "own_mistake":
        ask = pick(EXCHANGE_ASKS["size" if "size" in issue_sent else "colour"][reg], rng)
    else:
        ask = pick(ASKS[action][reg], rng)

    # secondary issue (lower priority, so it never wins)
    sec_text, sec_summary = "", ""
    lower = ISSUE_TYPES[ISSUE_TYPES.index(issue) + 1:]
    lower = [t for t in lower if t in SECONDARY]
    if lower and rng.random() < prof["secondary"]:
        st = rng.choice(lower)
        e, c, s = rng.choice(SECONDARY[st])
        sec_text = vary(e if not chat else c, rng)
        sec_vals = {"oorder": ids.order(), "oitem": "the " + other_product(rng, spec["pname"])}
        sec_text = fill(sec_text, sec_vals)
        sec_summary = s
        tags.append("multi_issue")
        if "{oorder}" in (e + c):
            tags.append("other_order_id")

    # who writes: an e-mail customer says they are new, returning or neither, and the tone,
    # opener and details agree with it (no "first order" beside "a customer for years")
    history = None if chat else weighted(rng, {"new": 1, "returning": 2, None: 3})

    # tone
    tone = ""
    if sentiment == "negative":
        if rng.random() < prof["sarcasm"] and issue not in ("order_change", "return_request", "product_question"):
            pool = SARCASM if not chat else CHAT_SARC
            if issue == "damaged_item" and not chat:
                pool = pool + ["Brilliant packaging, truly."]
            if issue == "delivery_delay" and chat:
                pool = pool + ["love waiting"]
            tone = rng.choice(pool)
            tags.append("sarcasm")
        elif issue in ("order_change", "return_request"):
            tone = pick(SELF_NEG[reg], rng)
        elif issue == "product_question":
            page = "delivery page" if scen["key"] == "shipping" else "product page"
            tone = pick(PQ_NEG, rng).replace("product page", page) if not chat else "really annoying that the page doesnt say"
        else:
            tone = pick(NEG_TONE + (NEG_TONE_RETURNING if history != "new" else []), rng) if not chat else rng.choice(CHAT_NEG)
    elif sentiment == "positive":
        if chat:
            tone = pick(CHAT_POS, rng)
        else:
            problem = issue != "product_question"
            pool = POS_TONE + (POS_TONE_PROBLEM if problem else [])
            if history == "returning":
                pool = pool + POS_TONE_RETURNING + (POS_TONE_RETURNING_PROBLEM if problem else [])
            tone = pick(pool, rng)

    plain_issue = issue_sent  # before typos, for the coherence checks below
    issue_sent = add_typos(issue_sent, rng, n_typos)
    issue_sent = fill(issue_sent, vals)
    ask = fill(ask, vals)
    if chat:
        cpool = CHAT_DETAILS + (CHAT_DETAILS_ORDER if issue not in ("account_access", "product_question") else [])
        if issue in ("delivery_delay", "damaged_item", "wrong_item"):
            cpool = cpool + CHAT_DETAILS_TIMING
        if issue == "delivery_delay":
            cpool = cpool + ["checked with the neighbours"]
        details = [rng.choice(cpool)] if rng.random() < 0.4 else []
        text = compose_chat(rng, issue_sent + ("" if not details else ", " + details[0]), order_text, track_sent,
                            sec_text, tone, ask, sentiment)
    else:
        quoted = rng.random() < prof["quote"]
        name = rng.choice(FIRST_NAMES)
        opener, opener_from = "", None
        if quoted and rng.random() < 0.5:
            opener = pick(QUOTE_REPLY_OPENERS, rng)
        elif rng.random() < 0.55:
            kinds = {"plain": OPENERS, "device": DEVICE_NOTES, "history": OPENERS_HISTORY.get(history or "", [])}
            opener_from = weighted(rng, {k: len(v) for k, v in kinds.items() if v})
            opener = pick(kinds[opener_from], rng)
        n_det = rng.choices([0, 1, 2, 3], weights=[5, 30, 40, 25], k=1)[0]
        pool = DETAILS[issue] + DETAILS_SCEN.get(scen["key"], []) + DETAILS_GENERAL
        if "nobody home" in plain_issue:
            pool = [d for d in pool if d != AT_HOME_THAT_DAY]
        if opener_from != "device":
            pool = pool + [rng.choice(DEVICE_NOTES)]  # at most one note about the device
        if issue in ("delivery_delay", "damaged_item", "wrong_item", "order_change"):
            pool = pool + DETAILS_PAID
        if issue in ("delivery_delay", "order_change"):
            pool = pool + DETAILS_AT_HOME
        if issue not in ("account_access", "product_question"):
            pool = pool + DETAILS_ORDER
            if history and opener_from != "history":
                pool = pool + [rng.choice(DETAILS_HISTORY[history])]
        if issue in ("delivery_delay", "damaged_item", "wrong_item"):
            pool = pool + DETAILS_TIMING
        dvals = {**vals, "Its": cap(vals["its"])}
        details = [fill(vary(d, rng), dvals) for d in rng.sample(pool, min(n_det, len(pool)))]
        if rng.random() < 0.5:
            context_sents = context_sents + details
        else:
            track_sent = " ".join([track_sent] + details).strip()
        text = compose_email(rng, opener, issue_sent, context_sents, track_sent, sec_text, tone, ask, sentiment,
                             name, "sarcasm" in tags)
        if quoted:
            text += "\n\n" + quoted_block(rng, ids, other_product(rng, spec["pname"]), name, issue)
            tags.append("quoted_order_id")

    # summary
    who = "Unhappy customer" if sentiment == "negative" else "Customer"
    core = fill(summary_core, vals)
    summary = f"{who} {core}"
    if action is None:
        summary += " without asking for anything specific"
    elif action == "information":
        summary += f" and {info_summary}" if info_summary else ""
    else:
        summary += " and " + ACTION_SUMMARY[action]
    if sec_summary:
        summary += f", and also mentions {sec_summary}"
    summary += "."

    out = {"order_id": order_id, "product": product, "issue_type": issue, "requested_action": action,
           "sentiment": sentiment}
    return {"input": text, "out": out, "summary": summary, "channel": reg,
            "product_line": spec["line"], "tags": tags}


def compose_email(rng: random.Random, opener: str, issue_sent: str, context: list[str], track: str, sec: str,
                  tone: str, ask: str, sentiment: str, name: str, sarcastic: bool = False) -> str:
    """Lay out an e-mail: greeting, opener, context, issue, extras, tone, ask, closer, name."""
    body: list[str] = [opener] if opener else []
    if (sentiment == "negative" and tone and rng.random() < 0.15 and not sarcastic
            and not issue_sent.endswith("?") and not any(s in tone for s in ("website", "online"))):
        issue_sent = issue_sent.upper().rstrip(".") + "!!"
    core = context + [issue_sent]
    if rng.random() < 0.3 and context:
        core = [issue_sent] + context
    body += core
    extras = [s for s in (track, sec) if s]
    rng.shuffle(extras)
    body += extras
    tail = [s for s in (tone, ask) if s]
    if len(tail) == 2 and rng.random() < 0.35:
        tail.reverse()
    if ask and rng.random() < 0.12:
        body = body[:1] + [ask] + body[1:] if opener else [ask] + body
        tail = [t for t in tail if t != ask]
    body += tail
    para_break = rng.random() < 0.4
    text = " ".join(body) if not para_break else "\n\n".join([" ".join(body[: len(body) // 2 + 1]), " ".join(body[len(body) // 2 + 1:])]).strip()
    parts = []
    if rng.random() < 0.85:
        parts.append(rng.choice(GREETINGS))
    parts.append(text.strip())
    sign = ""
    if rng.random() < 0.8:
        sign = pick(CLOSERS, rng)
    r = rng.random()
    if r < 0.35:
        name += " " + rng.choice(SURNAMES)
    elif r < 0.5:
        name += " " + rng.choice(SURNAMES)[0] + "."
    elif r < 0.6:
        name = "- " + name
    if rng.random() < 0.85:
        sign = (sign + "\n" + name).strip() if sign.endswith(",") or not sign else sign + "\n" + name
    if sign:
        parts.append(sign)
    sep = "\n\n" if rng.random() < 0.7 else "\n"
    return sep.join(parts)


def compose_chat(rng: random.Random, issue_sent: str, order_text: str, track: str, sec: str,
                 tone: str, ask: str, sentiment: str) -> str:
    """Lay out a chat message: short lines, often lower case, few capitals or full stops."""
    lines: list[str] = []
    if rng.random() < 0.45:
        lines.append(rng.choice(CHAT_HELLO))
    first = issue_sent
    if order_text:
        if rng.random() < 0.5:
            first = f"{first} (order {order_text})" if rng.random() < 0.5 else f"order {order_text} - {first}"
        else:
            lines.append(first)
            first = rng.choice(["order {o}", "order {o}", "its order {o}", "order no {o}"]).format(o=order_text)
    lines.append(first)
    for s in (track, sec):
        if s:
            lines.append(s)
    if tone and rng.random() < 0.5:
        lines.insert(1 if len(lines) > 1 else 0, tone)
    elif tone:
        lines.append(tone)
    if ask:
        lines.append(ask)
    if rng.random() < 0.3:
        lines = [cap(x) for x in lines]
    joiner = "\n" if rng.random() < 0.55 else rng.choice([". ", ", "])
    text = joiner.join(lines)
    if rng.random() < 0.2:
        text += rng.choice([" thx", " thanks", " ty", "!"])
    return text


def quoted_block(rng: random.Random, ids: Ids, oldprod: str, cname: str, issue: str) -> str:
    """An older reply from support about the same kind of issue, quoted below the customer's message.

    Its order id is another (older) order and never the label.
    """
    agent = rng.choice(AGENTS)
    header = fill(rng.choice(QUOTE_HEADERS), {"store": STORE, "agent": agent,
                                              "date": f"{rng.randint(1, 28)} {rng.choice(MONTHS)}"})
    body = fill(pick(QUOTE_BODIES[QUOTE_KIND[issue]], rng), {"cname": cname, "old": ids.order(), "oldprod": oldprod})
    sign = f"{agent}, {STORE} Customer Care"
    if header.startswith("-----"):
        return f"{header}\n\n{body}\n{sign}"
    return header + "\n" + "\n".join("> " + ln for ln in [body, sign])


# ---------------------------------------------------------------------------------------------
# Uniqueness: no input repeated or near-repeated across the clean files
# ---------------------------------------------------------------------------------------------
class Registry:
    """Normalised inputs seen so far, with a cheap near-duplicate guard (word-set distance)."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.by_size: dict[int, list[set[str]]] = {}

    def clashes(self, text: str, near: bool = True) -> bool:
        """True if ``text`` equals a registered input after normalisation, or (``near``) is close to one."""
        key = normalise_text(text)
        if key in self.keys:
            return True
        if not near:
            return False
        words = set(key.split())
        n = len(words)
        for size in range(min(int(n * 0.7), n - 4), max(int(n / 0.7) + 2, n + 5)):
            for other in self.by_size.get(size, []):
                inter = len(words & other)
                union = n + len(other) - inter
                if union - inter <= 4 or inter / union >= 0.7:
                    return True
        return False

    def add(self, text: str, near: bool = True) -> None:
        """Register ``text``; with ``near`` it also takes part in later near-duplicate checks."""
        key = normalise_text(text)
        self.keys.add(key)
        if near:
            words = set(key.split())
            self.by_size.setdefault(len(words), []).append(words)


def digits_ok(text: str) -> bool:
    """No phone-like or card-like digit runs and no '@' in a clean message."""
    return "@" not in text and not re.search(r"\d[\d\s().-]{5,}\d", text)


def make_rows(split: str, n: int, profile: str, rng: random.Random, ids: Ids, reg: Registry,
              id_prefix: str, near_add: bool = True, check: Callable[[dict[str, Any]], bool] | None = None,
              max_chars: int = 1100) -> list[dict[str, Any]]:
    """Generate ``n`` unique rows for one split."""
    prof = PROFILES[profile]
    rows: list[dict[str, Any]] = []
    while len(rows) < n:
        spec = make_spec(rng, prof)
        r = render(spec, rng, prof, ids)
        text = r["input"]
        if len(text) > max_chars or len(normalise_text(text).split()) < 6 or not digits_ok(text):
            continue
        if check is not None and not check(r):
            continue
        if reg.clashes(text):
            continue
        reg.add(text, near_add)
        rows.append(to_row(f"{id_prefix}-{len(rows) + 1:04d}", r))
    return rows


def to_row(row_id: str, r: dict[str, Any]) -> dict[str, Any]:
    """The JSONL row for one rendered message."""
    out = r["out"]
    return {"id": row_id, "input": r["input"], "output": dump_output(out), "task": TASK,
            "meta": {"category": out["issue_type"], "summary": r["summary"], "channel": r["channel"],
                     "product_line": r["product_line"], "tags": r["tags"]}}


# ---------------------------------------------------------------------------------------------
# raw_train: train plus planted defects
# ---------------------------------------------------------------------------------------------
DEFECT_COUNTS = {"malformed_row": 8, "missing_field": 8, "empty_output": 8, "exact_duplicate": 9,
                 "near_duplicate": 9, "conflicting_label": 5, "inconsistent_format": 10,
                 "invalid_json_output": 9, "train_eval_leak": 8, "pii": 9, "too_long": 7}


def camel(key: str) -> str:
    """order_id -> OrderId."""
    return "".join(p.capitalize() for p in key.split("_"))


def bad_format(out: dict[str, Any], kind: str, rng: random.Random) -> str:
    """An output string in an inconsistent (but recoverable) format."""
    if kind == "code_fence":
        return "```json\n" + dump_output(out) + "\n```"
    if kind == "key_order":
        keys = FIELDS[:]
        while keys == FIELDS:
            rng.shuffle(keys)
        return json.dumps({k: out[k] for k in keys}, ensure_ascii=False)
    if kind == "key_case":
        return json.dumps({camel(k): out[k] for k in FIELDS}, ensure_ascii=False)
    return json.dumps({k: out[k] for k in FIELDS}, ensure_ascii=False, indent=2)


def bad_json(out: dict[str, Any], kind: str, summary: str) -> str:
    """An output string that is not a JSON object, even after removing a code fence."""
    compact = dump_output(out)
    if kind == "single_quotes":
        return "{" + ", ".join(f"'{k}': " + (f"'{v}'" if v is not None else "None") for k, v in out.items()) + "}"
    if kind == "trailing_comma":
        return compact[:-1] + ",}"
    if kind == "truncated":
        return compact[: len(compact) // 2]
    return summary


def near_edit(text: str, rng: random.Random, k: int) -> str:
    """A trivial edit of ``text``: case, whitespace or punctuation change, or one swapped word."""
    kinds = ["lower", "spaces", "punct", "word"]
    kind = kinds[k % len(kinds)]
    if kind == "lower":
        return text.lower()
    if kind == "spaces":
        return re.sub(r" ", "  ", text, count=3) + " "
    if kind == "punct":
        return text.replace(",", "").replace(".", "", 2).replace("?", "")
    words = text.split(" ")
    swaps = {"Hi,": "Hello,", "Hello,": "Hi,", "Thanks.": "Thank you.", "Hey,": "Hi,", "the": "this", "my": "the"}
    for i, w in enumerate(words):
        if w in swaps:
            words[i] = swaps[w]
            return " ".join(words)
    return text.rstrip() + " thanks"


def long_thread(rng: random.Random, ids: Ids, prof: dict[str, Any], reg: Registry) -> dict[str, Any]:
    """A reply on top of a long pasted e-mail thread: far beyond 512 tokens."""
    while True:
        spec = make_spec(rng, prof)
        spec["chat"] = False
        r = render(spec, rng, prof, ids)
        if reg.clashes(r["input"]):
            continue
        blocks = [r["input"]]
        depth = 0
        while len(" ".join(blocks)) < 3000:
            depth += 1
            prefix = "> " * depth
            cust = make_spec(rng, prof)
            cust["chat"] = False
            older = render(cust, rng, prof, ids)["input"]
            qb = quoted_block(rng, ids, other_product(rng, spec["pname"]), rng.choice(FIRST_NAMES), cust["issue"])
            blk = f"On {rng.randint(1, 28)} {rng.choice(MONTHS)}, the customer wrote:\n" + older + "\n\n" + qb
            blocks.append("\n".join(prefix + ln for ln in blk.split("\n")))
        r["input"] = "\n\n".join(blocks)
        r["tags"] = r["tags"] + ["long_thread"]
        if digits_ok(r["input"]):
            reg.add(r["input"])
            return r


def pii_text(text: str, rng: random.Random, kind: str, name: str) -> str:
    """Insert one e-mail address, phone number or Luhn-valid card number into a message."""
    if kind == "email":
        addr = f"{name.lower()}.{rng.choice(SURNAMES).lower().replace(chr(39), '')}@example.com"
        sent = rng.choice([f"You can reach me at {addr}.", f"Please reply to {addr} instead.",
                           f"My new email is {addr}."])
    elif kind == "phone":
        num = rng.choice([f"+44 7700 900{rng.randint(100, 999)}", f"07700 900{rng.randint(100, 999)}",
                          f"+1 415-555-0{rng.randint(100, 199)}"])
        sent = rng.choice([f"Call me on {num} if easier.", f"My number is {num}.", f"Text me at {num}."])
    else:
        body = rng.choice(["4", "5"]) + "".join(rng.choice("0123456789") for _ in range(14))
        card = body + luhn_digit(body)
        sent = rng.choice([f"The card I paid with is {card}.", f"It was charged to card {card}.",
                           f"Card number {card}, in case you need it."])
    paras = text.split("\n\n")
    i = max(0, len(paras) - 2) if len(paras) > 1 else 0
    paras[i] = paras[i].rstrip() + " " + sent
    return "\n\n".join(paras)


def build_raw(train: list[dict[str, Any]], eval_rows: list[dict[str, Any]], rng: random.Random, ids: Ids,
              reg: Registry) -> tuple[list[str], dict[str, list[int]]]:
    """Interleave train rows with planted defect rows; return the lines and the manifest."""
    prof = PROFILES["standard"]
    placed: list[tuple[float, int, str, str | None]] = []  # (position, seq, line, check)
    seq = 0
    span = len(train)

    def put(pos: float, line: str, check: str | None) -> None:
        nonlocal seq
        placed.append((pos, seq, line, check))
        seq += 1

    def dumps(obj: Any) -> str:
        return json.dumps(obj, ensure_ascii=False)

    for i, row in enumerate(train):
        put(float(i), dumps(row), None)
    n_raw = 0

    def fresh() -> dict[str, Any]:
        nonlocal n_raw
        r = make_rows("raw", 1, "standard", rng, ids, reg, "x")[0]
        n_raw += 1
        r["id"] = f"support-raw-{n_raw:04d}"
        return r

    def rpos(lo: float = 0.0) -> float:
        return lo + rng.random() * (span - lo) + 0.5

    for k in range(DEFECT_COUNTS["malformed_row"]):
        r = fresh()
        if k % 3 == 2:
            line = dumps([r["id"], r["input"], r["output"]])
        else:
            full = dumps(r)
            line = full[: rng.randint(len(full) // 3, len(full) - 20)]
        put(rpos(), line, "malformed_row")
    for k in range(DEFECT_COUNTS["missing_field"]):
        r = fresh()
        if k % 3 == 0:
            del r["output"]
        elif k % 3 == 1:
            r["output"] = None
        else:
            del r["input"]
        put(rpos(), dumps(r), "missing_field")
    for k in range(DEFECT_COUNTS["empty_output"]):
        r = fresh()
        r["output"] = ["", " ", "\n", "   "][k % 4]
        put(rpos(), dumps(r), "empty_output")
    for k in range(DEFECT_COUNTS["exact_duplicate"]):
        i = rng.randrange(span - 20)
        put(rpos(float(i) + 0.2), dumps(train[i]), "exact_duplicate")
    used_near: list[int] = []
    for k in range(DEFECT_COUNTS["near_duplicate"]):
        i = rng.randrange(span - 20)
        while i in used_near:
            i = rng.randrange(span - 20)
        used_near.append(i)
        r = dict(train[i])
        r["id"] = f"support-raw-dup-{k + 1:02d}"
        r["input"] = near_edit(r["input"], rng, k)
        put(rpos(float(i) + 0.2), dumps(r), "near_duplicate")
    for k in range(DEFECT_COUNTS["conflicting_label"]):
        r = fresh()
        pos = rng.random() * span * 0.7
        put(pos, dumps(r), "conflicting_label")
        twin = json.loads(dumps(r))
        twin["id"] = r["id"] + "-b"
        out = json.loads(r["output"])
        if k % 2 == 0:
            out["issue_type"] = rng.choice([t for t in ISSUE_TYPES if t != out["issue_type"] and t != "product_question"])
            twin["meta"]["category"] = out["issue_type"]
        else:
            out["sentiment"] = rng.choice([s for s in SENTIMENTS if s != out["sentiment"]])
        twin["output"] = dump_output(out)
        if k % 3 == 1:
            twin["input"] = twin["input"].lower()
        put(rpos(pos + 1.0), dumps(twin), "conflicting_label")
    fmt_kinds = ["code_fence", "key_order", "key_case", "pretty"]
    for k in range(DEFECT_COUNTS["inconsistent_format"]):
        r = fresh()
        r["output"] = bad_format(json.loads(r["output"]), fmt_kinds[k % 4], rng)
        put(rpos(), dumps(r), "inconsistent_format")
    bad_kinds = ["single_quotes", "trailing_comma", "truncated", "prose"]
    for k in range(DEFECT_COUNTS["invalid_json_output"]):
        r = fresh()
        r["output"] = bad_json(json.loads(r["output"]), bad_kinds[k % 4], r["meta"]["summary"])
        put(rpos(), dumps(r), "invalid_json_output")
    for k, e in enumerate(rng.sample(eval_rows, DEFECT_COUNTS["train_eval_leak"])):
        r = json.loads(dumps(e))
        r["id"] = f"support-raw-leak-{k + 1:02d}"
        if k % 2 == 1:
            r["input"] = r["input"].lower()
        put(rpos(), dumps(r), "train_eval_leak")
    pii_kinds = ["email", "phone", "card"]
    for k in range(DEFECT_COUNTS["pii"]):
        r = fresh()
        r["input"] = pii_text(r["input"], rng, pii_kinds[k % 3], rng.choice(FIRST_NAMES))
        put(rpos(), dumps(r), "pii")
    for k in range(DEFECT_COUNTS["too_long"]):
        n_raw += 1
        r = to_row(f"support-raw-{n_raw:04d}", long_thread(rng, ids, prof, reg))
        put(rpos(), dumps(r), "too_long")

    placed.sort(key=lambda t: (t[0], t[1]))
    manifest: dict[str, list[int]] = {c: [] for c in DEFECT_COUNTS}
    lines = []
    for n, (_, _, line, check) in enumerate(placed, start=1):
        lines.append(line)
        if check:
            manifest[check].append(n)
    return lines, manifest


# ---------------------------------------------------------------------------------------------
# noisy_train: many rows with label noise and format inconsistency at stated rates
# ---------------------------------------------------------------------------------------------
NOISE_RATES = {"issue_type": 0.20, "requested_action": 0.12, "sentiment": 0.12, "order_id": 0.06,
               "code_fence": 0.03, "key_order": 0.03, "key_case": 0.03, "pretty": 0.03}
LABEL_NOISE = ["issue_type", "requested_action", "sentiment", "order_id"]
FORMAT_NOISE = ["code_fence", "key_order", "key_case", "pretty"]

# Systematic noise: annotators' habits, applied by rule (no random draw) to every row without
# random noise that the rule matches, so a model can learn them like a rule. Rows carry
# meta.annotator, A-D in turn by batches of ANNOTATOR_BATCH rows (rows 1-50 A, 51-100 B, ...).
ANNOTATORS = "ABCD"
ANNOTATOR_BATCH = 50
SYSTEMATIC: dict[str, dict[str, Any]] = {
    "annotator_swap": {"rule": "annotator C writes every issue_type return_request as wrong_item (meta.category follows)",
                       "field": "issue_type", "annotator": "C", "from": "return_request", "to": "wrong_item",
                       "stated_rate": 0.017},
    "hard_null": {"rule": "order_id is left null whenever the message writes the order number as #NNNNN "
                          "(a hash and five digits, no ORD- prefix)",
                  "field": "order_id", "stated_rate": 0.04},
    "batch_format_drift": {"rule": "one export batch, rows 401-600, writes CamelCase keys (OrderId, Product, ...)",
                           "field": None, "rows": [401, 600], "stated_rate": 0.03},
}


def annotator(index: int) -> str:
    """The annotator of the 0-based row ``index`` of noisy_train: A-D in turn by batches of 50 rows."""
    return ANNOTATORS[(index // ANNOTATOR_BATCH) % len(ANNOTATORS)]


def systematic_kinds(index: int, row: dict[str, Any]) -> list[str]:
    """The systematic kinds whose rule matches a row that carries no random noise."""
    clean = json.loads(row["meta"]["clean_output"])
    swap, drift = SYSTEMATIC["annotator_swap"], SYSTEMATIC["batch_format_drift"]
    kinds = []
    if annotator(index) == swap["annotator"] and clean["issue_type"] == swap["from"]:
        kinds.append("annotator_swap")
    if clean["order_id"] and "#" + clean["order_id"][4:] in row["input"]:
        kinds.append("hard_null")
    if drift["rows"][0] <= index + 1 <= drift["rows"][1]:
        kinds.append("batch_format_drift")
    return kinds


def add_noise(rows: list[dict[str, Any]], rng: random.Random, ids: Ids) -> dict[str, Any]:
    """Corrupt exactly round(rate * n) rows per random noise kind, then apply the systematic rules
    to the rows left untouched; record what was done in meta."""
    n = len(rows)
    counts: dict[str, int] = {}
    for i, row in enumerate(rows):
        row["meta"]["clean_output"] = row["output"]
        row["meta"]["noise"] = []
        row["meta"]["annotator"] = annotator(i)
    for kind in LABEL_NOISE:
        k = round(NOISE_RATES[kind] * n)
        counts[kind] = k
        for i in sorted(rng.sample(range(n), k)):
            out = json.loads(rows[i]["output"])
            if kind == "issue_type":
                out[kind] = rng.choice([t for t in ISSUE_TYPES if t != out[kind]])
                rows[i]["meta"]["category"] = out[kind]
            elif kind == "requested_action":
                out[kind] = rng.choice([a for a in ACTIONS + [None] if a != out[kind]])
            elif kind == "sentiment":
                out[kind] = rng.choice([s for s in SENTIMENTS if s != out[kind]])
            else:
                out[kind] = None if out[kind] and rng.random() < 0.5 else ids.order()
            rows[i]["output"] = dump_output(out)
            rows[i]["meta"]["noise"].append(kind)
    n_fmt = sum(round(NOISE_RATES[k] * n) for k in FORMAT_NOISE)
    chosen = rng.sample(range(n), n_fmt)
    pos = 0
    for kind in FORMAT_NOISE:
        k = round(NOISE_RATES[kind] * n)
        counts[kind] = k
        for i in sorted(chosen[pos:pos + k]):
            rows[i]["output"] = bad_format(json.loads(rows[i]["output"]), kind, rng)
            rows[i]["meta"]["noise"].append(kind)
        pos += k
    any_label = sum(1 for r in rows if any(x in LABEL_NOISE for x in r["meta"]["noise"]))
    any_fmt = sum(1 for r in rows if any(x in FORMAT_NOISE for x in r["meta"]["noise"]))

    systematic = {kind: 0 for kind in SYSTEMATIC}
    for i, row in enumerate(rows):
        if row["meta"]["noise"]:
            continue  # systematic noise only where no random noise was planted
        kinds = systematic_kinds(i, row)
        if not kinds:
            continue
        out = json.loads(row["output"])
        if "annotator_swap" in kinds:
            out["issue_type"] = SYSTEMATIC["annotator_swap"]["to"]
            row["meta"]["category"] = out["issue_type"]
        if "hard_null" in kinds:
            out["order_id"] = None
        row["output"] = bad_format(out, "key_case", rng) if "batch_format_drift" in kinds else dump_output(out)
        row["meta"]["noise"] = kinds
        for kind in kinds:
            systematic[kind] += 1
    return {"n_rows": n, "seed": SEED, "stated_rates": NOISE_RATES, "planted_counts": counts,
            "rows_with_label_noise": any_label, "rows_with_format_noise": any_fmt,
            "systematic": {kind: {"rule": spec["rule"], "field": spec["field"], "stated_rate": spec["stated_rate"],
                                  "planted_count": systematic[kind],
                                  **{k: v for k, v in spec.items() if k not in ("rule", "field", "stated_rate")}}
                           for kind, spec in SYSTEMATIC.items()},
            "annotators": (f"meta.annotator: {', '.join(ANNOTATORS)} in turn by batches of {ANNOTATOR_BATCH} rows "
                           f"(rows 1-{ANNOTATOR_BATCH} {ANNOTATORS[0]}, {ANNOTATOR_BATCH + 1}-{2 * ANNOTATOR_BATCH} "
                           f"{ANNOTATORS[1]}, ...)"),
            "rows_with_systematic_noise": sum(1 for r in rows if set(r["meta"]["noise"]) & set(SYSTEMATIC)),
            "rows_clean": sum(1 for r in rows if not r["meta"]["noise"]),
            "notes": ("Random noise: each label-noise kind replaces that field with a different valid value in "
                      "exactly round(rate * n_rows) rows, drawn independently per kind (a row can carry several); "
                      "format kinds are disjoint: each affected row gets one. Systematic noise: each rule in "
                      "'systematic' is applied to every row without random noise that it matches (a row can "
                      "match several), so its count is what the rule hits and its rate is approximate. "
                      "meta.noise lists what was done to a row and meta.clean_output keeps the correct answer.")}


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------
SYSTEM_PROMPT = ("You read customer messages sent to the online shop Larkspur Goods and reply with one JSON object "
                 "with the keys order_id, product, issue_type, requested_action, sentiment, in that order. "
                 "issue_type: " + ", ".join(ISSUE_TYPES) + ". requested_action: " + ", ".join(ACTIONS) +
                 " or null. sentiment: positive, neutral or negative. Use null for an order id or product the "
                 "message does not give.")


def schema() -> dict[str, Any]:
    """The content of schema.json."""
    return {"fields": FIELDS, "labels": {"issue_type": ISSUE_TYPES, "requested_action": ACTIONS,
                                         "sentiment": SENTIMENTS},
            "classification_labels": ISSUE_TYPES, "nullable": NULLABLE,
            "order_id_pattern": "^ORD-[0-9]{5}$", "products": {line: [p for p, _ in items] for line, items in CATALOGUE.items()},
            "system_prompt": SYSTEM_PROMPT}


def chat_row(row: dict[str, Any]) -> dict[str, Any]:
    """The chat-style copy of a train row."""
    return {"id": row["id"], "messages": [{"role": "system", "content": SYSTEM_PROMPT},
                                          {"role": "user", "content": row["input"]},
                                          {"role": "assistant", "content": row["output"]}],
            "task": TASK, "meta": row["meta"]}


def write_jsonl(path: Path, rows: list[Any]) -> None:
    """One JSON object (or pre-made line) per line, UTF-8, '\\n' line ends."""
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")


def write_json(path: Path, obj: Any) -> None:
    """Pretty JSON with a trailing newline."""
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8", newline="\n")


def build(out_dir: Path) -> dict[str, int]:
    """Generate every file into ``out_dir``; returns the row count per file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = Ids(random.Random(SEED))
    reg = Registry()
    golden = make_rows("golden", SPLIT_SIZES["golden"], "hard", random.Random(SEED + 1), ids, reg, "support-golden")
    eval_rows = make_rows("eval", SPLIT_SIZES["eval"], "standard", random.Random(SEED + 2), ids, reg, "support-eval")
    prod = make_rows("production_sample", SPLIT_SIZES["production_sample"], "shifted", random.Random(SEED + 3),
                     ids, reg, "support-production")
    train = make_rows("train", SPLIT_SIZES["train"], "standard", random.Random(SEED + 4), ids, reg, "support-train")
    raw_lines, manifest = build_raw(train, eval_rows, random.Random(SEED + 5), ids, reg)
    noisy = make_rows("noisy_train", SPLIT_SIZES["noisy_train"], "standard", random.Random(SEED + 6), ids, reg,
                      "support-noisy", near_add=False)
    stats = add_noise(noisy, random.Random(SEED + 7), ids)

    write_jsonl(out_dir / "train.jsonl", train)
    write_jsonl(out_dir / "eval.jsonl", eval_rows)
    write_jsonl(out_dir / "golden.jsonl", golden)
    write_jsonl(out_dir / "production_sample.jsonl", prod)
    write_jsonl(out_dir / "raw_train.jsonl", raw_lines)
    write_jsonl(out_dir / "noisy_train.jsonl", noisy)
    write_jsonl(out_dir / "train_chat.jsonl", [chat_row(r) for r in train])
    write_json(out_dir / "defects_manifest.json", manifest)
    write_json(out_dir / "schema.json", schema())
    write_json(out_dir / "noisy_stats.json", stats)
    return {"train": len(train), "eval": len(eval_rows), "golden": len(golden), "production_sample": len(prod),
            "raw_train": len(raw_lines), "noisy_train": len(noisy)}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="Rebuild the bundled customer-support data set.")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "support",
                        help="output folder (default: data/support next to this script)")
    args = parser.parse_args(argv)
    counts = build(args.out)
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

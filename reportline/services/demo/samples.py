"""The demo unit's officers and its twelve sample cases, oldest first.

Every person, place, reference and event here is invented. The cases are
the kinds a counter-corruption unit receives, at the stages a Monday morning
finds them: new and unacknowledged (one arrived today, one overdue), being
assessed (feedback due soon), investigated (feedback overdue), referred, and
closed with an outcome; two pairs are linked, one case has an unread reply.
"""

from __future__ import annotations

from reportline.services.demo.script import (
    REPORTER,
    Assign,
    Close,
    Declare,
    DemoOfficer,
    Move,
    Note,
    Reply,
    SampleCase,
    Take,
    Write,
    record,
    step,
)
from reportline.services.submissions import ReportDraft
from reportline.services.triage_record import Subject

SUPERVISOR = "supervisor"
OFFICERS = (
    DemoOfficer("okafor", "amara.okafor@demo.reportline.invalid"),
    DemoOfficer("reid", "tom.reid@demo.reportline.invalid"),
    DemoOfficer("shah", "priya.shah@demo.reportline.invalid"),
)

SOCIAL_MEDIA = "Bullying and harassment, including discriminatory messaging on social media"
DISCRIMINATION = "Discrimination: racism, misogyny, homophobia, disability"
SYSTEMS = "Misuse of force systems"
DOMESTIC_ABUSE = "Domestic abuse by staff"
SEXUAL = "Sexual misconduct, including abuse of position for a sexual purpose"
AUTHORITY = "Abuse of authority"
THEFT = "Theft and fraud"
ASSOCIATION = "Inappropriate association"
INFILTRATION = "Infiltration"
DISCLOSURE = "Disclosure of information"
JUSTICE = "Perverting the course of justice"

HOLLIS = Subject("Ryan Hollis", "3318", "Police constable", "C Relief, Eastbrook")
MARSH = Subject("Lee Marsh", "3342", "Police constable", "C Relief, Eastbrook")
PRYOR = Subject("Shaun Pryor", "6042", "Detective constable", "CID, Kingsmere")


def _report(category: str, what_happened: str, **answers: str) -> ReportDraft:
    """A report as the form stores it; unanswered questions left blank."""
    fields = {"when": "", "where": "", "who_involved": "", "how_known": "saw_or_heard"}
    fields |= {"how_known_detail": "", "at_risk": "no", "at_risk_detail": ""} | answers
    return ReportDraft(category=category, what_happened=what_happened, **fields)


PROPERTY_STORE = SampleCase(
    "property_store",
    118,
    _report(
        "dishonesty",
        "I work in the property store at Eastbrook. Cash seized on drugs warrants is meant "
        "to be counted by two people and sealed in a numbered bag. Several times recently "
        "the property officer, Martin Keble, has booked cash in on his own at the end of the "
        "day, and when the bags went to the bank they were short. One was £1,240 short "
        "because the bank queried it. The seal numbers on the bags don't match the ones on "
        "the property records. He has also taken a bag of seized phones home 'to wipe them'.",
        when="Over the last three months; the bank's query came two weeks ago",
        where="Eastbrook property store",
        who_involved="Martin Keble, property officer (police staff)",
        how_known="documents",
        how_known_detail="I have seen the property records and the bank's query.",
    ),
    (
        step(1, "09:10", SUPERVISOR, Move("acknowledged", "Possible theft of seized cash.")),
        step(1, "09:15", SUPERVISOR, Assign("reid")),
        step(1, "09:40", "reid", Declare()),
        step(
            1,
            "10:05",
            "reid",
            record(
                "medium",
                categories=(THEFT,),
                subjects=(Subject("Martin Keble", "S7731", "Property officer", "Eastbrook"),),
                relationship="colleague",
                risk_flags=("re_identification", "corroboration_needed"),
                source_evaluation="2",
                intelligence_assessment="B",
                handling_code="P",
                decision="investigate",
                rationale="Checkable against the property system and the bank's records "
                "without pointing to the reporter.",
                intelligence_ref="CCU-INT-2107",
            ),
        ),
        step(2, "08:50", "reid", Move("investigating", "Audit of property and bank records.")),
        step(
            9,
            "15:20",
            "reid",
            Note(
                "Audit: four cash exhibits whose seal numbers do not match the property "
                "record; £3,460 short against the counts on the seizure records."
            ),
        ),
        step(
            10,
            "11:00",
            "reid",
            Write(
                "Thank you for your report. The records you describe are being checked. "
                "Please carry on as normal and don't mention it to anyone."
            ),
        ),
        step(
            16,
            "14:30",
            "reid",
            Move(
                "referred",
                "Theft by a member of police staff: referred to professional standards for "
                "a criminal and misconduct investigation.",
            ),
        ),
        step(
            17,
            "09:30",
            "reid",
            Write(
                "An update: we have looked into your report and passed the matter on for a "
                "full investigation. We will tell you here when it is finished.",
                feedback=True,
            ),
        ),
        step(
            95,
            "16:00",
            "reid",
            Note(
                "Professional standards: admitted in interview under caution; charged with "
                "theft by an employee. Dismissed at a gross misconduct hearing."
            ),
        ),
        step(
            96,
            "10:15",
            "reid",
            Write(
                "The matter you reported has been investigated and found to be true. Action "
                "has been taken and the person no longer works for the force. Thank you for "
                "speaking up: it made a difference.",
                kind="outcome",
            ),
        ),
        step(
            96,
            "10:20",
            "reid",
            Close(
                "substantiated",
                "Theft admitted; charged and dismissed. Cash is now counted and sealed by two "
                "people every time.",
                "professional_standards",
                "PSD/1193",
            ),
        ),
    ),
)

RECOVERY_GARAGE = SampleCase(
    "recovery_garage",
    110,
    _report(
        "corruption",
        "An officer from the roads policing unit seems very friendly with the owner of a "
        "garage on the industrial estate. Vehicles we seize get sent there for recovery a "
        "lot. I don't know if anything is going on but it doesn't look right.",
        when="For a while",
        where="Industrial estate, Northgate",
        who_involved="Someone from roads policing, I don't know his name",
        how_known="told",
        how_known_detail="People on the team talk about it.",
    ),
    (
        step(2, "11:30", SUPERVISOR, Move("acknowledged")),
        step(
            2,
            "11:35",
            SUPERVISOR,
            Write(
                "Thank you for your report. To look into it we need a little more: do you "
                "know the name of the garage or of the officer, or when vehicles were sent "
                "there? Anything you can add helps."
            ),
        ),
        step(
            3,
            "09:20",
            SUPERVISOR,
            record(
                "low",
                categories=(ASSOCIATION,),
                relationship="other",
                source_evaluation="2",
                intelligence_assessment="D",
                handling_code="P",
                decision="record_only",
                rationale="Nothing yet identifies the officer or the garage.",
            ),
        ),
        step(
            30,
            "15:45",
            SUPERVISOR,
            Note(
                "No reply after four weeks. Recoveries go through the approved operators' "
                "rota; a first look at it shows nothing unusual."
            ),
        ),
        step(
            31,
            "10:00",
            SUPERVISOR,
            Write(
                "We have not been able to take this further without more detail, so we are "
                "closing the report. What you told us has been recorded, and you can still "
                "add to it here with your receipt.",
                kind="outcome",
                feedback=True,
            ),
        ),
        step(
            31,
            "10:05",
            SUPERVISOR,
            Close(
                "insufficient_information",
                "Nothing to identify the officer or the garage and no answer to our "
                "question; recorded as intelligence.",
            ),
        ),
    ),
)

DEALER_ASSOCIATION = SampleCase(
    "association",
    104,
    _report(
        "drugs_criminal_associations",
        "DC Shaun Pryor from Kingsmere CID is friendly with Tony Vance, who everyone knows is "
        "behind a lot of the cocaine on the Marsh estate. Pryor trains at Vance's boxing gym "
        "on Ferry Lane, and I've seen them drinking together in the Anchor on a Friday more "
        "than once. He was at Vance's barbecue a few months ago (the photos were on Facebook, "
        "since deleted). I don't think he has ever declared it. I'm worried he is passing "
        "information.",
        when="For at least a year",
        where="Ferry Lane boxing gym; the Anchor pub, Kingsmere",
        who_involved="DC Shaun Pryor (Kingsmere CID); Tony Vance",
        how_known_detail="I live locally and have seen them together.",
        at_risk="not_sure",
    ),
    (
        step(
            3,
            "09:00",
            SUPERVISOR,
            Move("acknowledged", "Undeclared association with a known drugs supplier."),
        ),
        step(
            3,
            "09:10",
            SUPERVISOR,
            record(
                "high",
                categories=(ASSOCIATION, INFILTRATION),
                subjects=(PRYOR,),
                relationship="other",
                risk_flags=("access_to_vulnerable", "corroboration_needed"),
                source_evaluation="2",
                intelligence_assessment="B",
                handling_code="P",
                decision="assess_further",
                rationale="Access to intelligence systems; association not declared.",
                intelligence_ref="CCU-INT-2179",
            ),
        ),
        step(3, "09:15", SUPERVISOR, Assign("okafor")),
        step(
            3,
            "09:30",
            SUPERVISOR,
            Write(
                "Thank you for your report. It has been received and will be assessed. If "
                "you see them together again, you can add the date and place here."
            ),
        ),
        step(14, "10:40", "okafor", Move("assessing", "Checking the register of associations.")),
        step(
            15,
            "14:05",
            "okafor",
            Note("Nothing declared on the register. Vance is a current organised crime nominal."),
        ),
        step(
            40,
            "19:30",
            REPORTER,
            Reply(
                "They were in the Anchor again last Friday, about 9pm, with two of Vance's "
                "lads. Pryor left with them."
            ),
        ),
        step(41, "08:55", "okafor", Note("Pub sighting logged; covert assessment requested.")),
        step(
            60,
            "13:10",
            "okafor",
            Move("investigating", "Association corroborated by a second source."),
        ),
        step(
            60,
            "13:20",
            "okafor",
            record(decision="investigate", investigation_ref="CCU/INV/0398"),
        ),
    ),
)

BULLIED_PROBATIONER = SampleCase(
    "probationer",
    89,
    _report(
        "bullying",
        "Acting Sergeant Neil Fenwick has been picking on one of the student officers on our "
        "team, PC Kirsty Dale, since she joined us. In briefings he says in front of everyone "
        "that she is 'not cut out for it' and mimics her accent. He gives her all of the "
        "shift's paperwork, and he has told her that if she goes to anyone her probation "
        "'will go badly'. He left her on a scene cordon for nine hours with no break while "
        "everyone else was relieved. She has been crying in the locker room and talks about "
        "leaving. She doesn't know I am reporting this.",
        when="Since she joined the team, most shifts he is on",
        where="Hallam Road station, D team briefings and at scenes",
        who_involved="A/PS Neil Fenwick; PC Kirsty Dale (student officer); D team saw it",
        at_risk="not_sure",
        at_risk_detail="PC Dale's welfare.",
    ),
    (
        step(2, "10:00", SUPERVISOR, Move("acknowledged", "Bullying of a student officer.")),
        step(
            2,
            "10:05",
            SUPERVISOR,
            Write(
                "Thank you for your report. It has been received and the unit will look at "
                "it. We will tell you how it is going within three months; you can check "
                "here with your receipt at any time."
            ),
        ),
        step(
            2,
            "10:15",
            SUPERVISOR,
            record(
                "medium",
                categories=(SOCIAL_MEDIA, AUTHORITY),
                subjects=(
                    Subject("Neil Fenwick", "2280", "Acting sergeant", "D team, Hallam Road"),
                ),
                relationship="witness",
                risk_flags=("victimisation", "re_identification"),
                source_evaluation="2",
                intelligence_assessment="B",
                handling_code="P",
                decision="assess_further",
                rationale="A pattern over months; the student officer has not reported it. "
                "Welfare first, without revealing the report.",
            ),
        ),
        step(3, "09:00", SUPERVISOR, Assign("shah")),
        step(20, "11:10", "shah", Move("assessing", "Checking rosters and the cordon log.")),
        step(
            20,
            "11:20",
            "shah",
            Write(
                "We are looking into what you described. Could you tell us which incident the "
                "scene cordon was for, or roughly when? That lets us check the records "
                "without anyone knowing why."
            ),
        ),
        step(
            23,
            "22:40",
            REPORTER,
            Reply(
                "It was the stabbing on Alder Street, a Thursday night about a month ago. She "
                "was on the inner cordon from about 6pm until 3am."
            ),
        ),
        step(
            24,
            "09:35",
            "shah",
            Note(
                "Alder Street scene log: PC Dale on the inner cordon 18:05 to 03:10, no relief "
                "recorded; two others were relieved twice."
            ),
        ),
        step(
            60,
            "15:00",
            "shah",
            Note("Tutor constable confirms PC Dale may resign. Welfare referral made."),
        ),
    ),
)

VICTIM_MESSAGED = SampleCase(
    "sexual_purpose",
    64,
    _report(
        "sexual_misconduct",
        "PC Lewis Garside went to a domestic at a flat on the Carrow Vale estate about two "
        "months ago. The victim is a young woman with two children. Since then he has been "
        "messaging her on Instagram from his own account, saying he 'looks out for her' and "
        "asking her out for a drink, and he has been to her flat off duty at least once. A "
        "friend of hers in our control room showed me the messages; the woman is frightened "
        "to complain in case it affects her case against her ex. I have heard he did "
        "something similar before with a burglary victim.",
        when="The messages started a week after the call and are still going on",
        where="Carrow Vale estate; Instagram",
        who_involved="PC Lewis Garside, Northgate response; the victim of the domestic",
        how_known="told",
        how_known_detail="A control room colleague showed me screenshots the woman sent her.",
        at_risk="yes",
        at_risk_detail="The woman he attended, who is vulnerable, and other victims he meets.",
    ),
    (
        step(
            0,
            "10:20",
            SUPERVISOR,
            Move("acknowledged", "Possible abuse of position for a sexual purpose."),
        ),
        step(
            0,
            "10:30",
            SUPERVISOR,
            record(
                "high",
                categories=(SEXUAL, AUTHORITY),
                subjects=(
                    Subject("Lewis Garside", "3906", "Police constable", "Response, Northgate"),
                ),
                relationship="other",
                risk_flags=("immediate_risk", "access_to_vulnerable", "iopc_referral"),
                source_evaluation="2",
                intelligence_assessment="C",
                handling_code="P",
                decision="refer",
                rationale="Abuse of position for a sexual purpose meets the mandatory referral "
                "criteria. Safeguard the victim first.",
                intelligence_ref="CCU-INT-2244",
            ),
        ),
        step(0, "10:40", SUPERVISOR, Assign("okafor")),
        step(0, "11:00", "okafor", Declare()),
        step(0, "11:30", "okafor", Note("Safeguarding referral made for the victim tonight.")),
        step(1, "09:00", "okafor", Move("assessing", "Gathering incident records to refer.")),
        step(
            2,
            "08:45",
            "okafor",
            Write(
                "Thank you for reporting this. We are taking it very seriously and have acted "
                "to keep the woman safe. Please don't raise it with her or your colleague "
                "again. What made you think he had done something similar before?"
            ),
        ),
        step(
            4,
            "21:15",
            REPORTER,
            Reply(
                "A burglary victim last year, an older woman's daughter. I only heard it from "
                "another PC on the team, so I don't know more than that."
            ),
        ),
        step(5, "10:00", "okafor", Note("Searching the subject's attended incidents for her.")),
        step(
            9,
            "11:15",
            "okafor",
            Move("referred", "Mandatory referral to the IOPC made today."),
        ),
        step(
            9,
            "11:20",
            "okafor",
            record(referral_body="iopc", referral_reference="IOPC/058812"),
        ),
        step(
            12,
            "09:40",
            "okafor",
            Write(
                "An update: your report has gone to the independent body that oversees police "
                "conduct, which will decide how it is investigated. We can't say more while "
                "that happens, but the woman is being looked after. You can still add "
                "information here.",
                feedback=True,
            ),
        ),
        step(
            40,
            "16:30",
            "okafor",
            Note(
                "IOPC: independent investigation. Subject served a notice and restricted to "
                "duties without contact with the public. We stay as liaison."
            ),
        ),
    ),
)

GROUP_CHAT = SampleCase(
    "group_chat",
    38,
    _report(
        "discrimination",
        "There is a WhatsApp group called 'C Relief Banter' with about fifteen of us from C "
        "Relief at Eastbrook. Over the past few weeks PC Hollis has posted 'jokes' about "
        "Muslims, including a picture of a pig's head captioned with a mosque's address, and "
        "a meme comparing a Black colleague on D Relief to a monkey. PC Marsh replied with "
        "laughing emojis and added a comment about 'sending them all back'. When someone "
        "said it wasn't funny, Hollis told them to 'grow a pair or leave the group'. Nobody "
        "has reported it because nobody wants to be the one who grassed. I have kept "
        "screenshots.",
        when="Over the last three weeks; the worst was a Saturday night after a late shift",
        where="WhatsApp group 'C Relief Banter'",
        who_involved="PC Hollis (posted them), PC Marsh (joined in); about fifteen members",
        how_known_detail="I am in the group and saw the messages myself.",
        at_risk="not_sure",
        at_risk_detail="The colleague in the meme doesn't know about it, as far as I know.",
    ),
    (
        step(1, "09:15", SUPERVISOR, Move("acknowledged", "Discriminatory messages in a chat.")),
        step(
            1,
            "09:20",
            SUPERVISOR,
            Write(
                "Thank you for your report. A member of the counter-corruption unit will look "
                "at it. Please keep the screenshots safe and don't forward them to anyone. "
                "Roughly how many messages are there, and does any of them name the "
                "colleague on D Relief?"
            ),
        ),
        step(1, "09:30", SUPERVISOR, Assign("okafor")),
        step(1, "11:05", "okafor", Declare()),
        step(
            2,
            "20:10",
            REPORTER,
            Reply(
                "About twenty that matter, I think. The meme doesn't name him but everyone in "
                "the group knows who it means. The screenshots are on my personal phone."
            ),
        ),
        step(3, "10:00", "okafor", Move("assessing", "Identifying the members and devices.")),
        step(
            3,
            "10:10",
            "okafor",
            record(
                "medium",
                categories=(DISCRIMINATION, SOCIAL_MEDIA),
                subjects=(HOLLIS, MARSH),
                relationship="colleague",
                risk_flags=("re_identification", "victimisation", "corroboration_needed"),
                source_evaluation="2",
                intelligence_assessment="B",
                handling_code="P",
                decision="assess_further",
                rationale="First-hand account by a group member. If proven, gross misconduct. "
                "A small group: no approach may point at the reporter.",
                intelligence_ref="CCU-INT-2291",
            ),
        ),
        step(
            3,
            "10:20",
            "okafor",
            Write(
                "Thank you, that helps. Please don't send us the screenshots yet: we may be "
                "able to get the messages another way that does not point to you. Keep them "
                "and don't delete anything."
            ),
        ),
        step(
            3,
            "10:25",
            "okafor",
            Note(
                "Agreed with the DI: don't rely on the reporter's screenshots. Seek the "
                "messages from the subjects' devices first."
            ),
        ),
        step(
            12,
            "14:40",
            "okafor",
            Move("investigating", "Two subjects; severity assessed as gross misconduct."),
        ),
        step(
            12, "14:45", "okafor", record(decision="investigate", investigation_ref="CCU/INV/0417")
        ),
        step(
            30,
            "09:50",
            "okafor",
            Write(
                "An update, as promised: your report is being investigated. We can't share "
                "details while that runs, but action is under way. If anyone treats you "
                "differently because of the group chat, tell us here.",
                feedback=True,
            ),
        ),
        step(30, "10:00", "okafor", Note("Notices to be served after the device examination.")),
    ),
)

GROUP_CHAT_AGAIN = SampleCase(
    "group_chat_again",
    35,
    _report(
        "discrimination",
        "Someone in our shift's WhatsApp group keeps posting racist and anti-Muslim stuff and "
        "another officer joins in. I'm not comfortable with it but I don't want to be the one "
        "to say anything in the group. The last one was a monkey picture about a colleague "
        "from D Relief.",
        when="Last weekend and before",
        where="Our relief's group chat",
        who_involved="Two PCs on C Relief at Eastbrook; one of them set the group up",
    ),
    (
        step(
            1,
            "09:40",
            SUPERVISOR,
            Move("acknowledged", "The same group chat as an open case."),
        ),
        step(
            1,
            "09:45",
            SUPERVISOR,
            record(
                categories=(DISCRIMINATION, SOCIAL_MEDIA),
                subjects=(HOLLIS, MARSH),
                relationship="witness",
                source_evaluation="2",
                intelligence_assessment="B",
                handling_code="P",
                decision="record_only",
                rationale="Same group and messages as the earlier report: recorded against it.",
                links=(("group_chat", "duplicate_of"),),
            ),
        ),
        step(
            1,
            "09:50",
            SUPERVISOR,
            Write(
                "Thank you for reporting this. We already know about these messages and they "
                "are being looked into; your report has been added to that case, so there is "
                "nothing more you need to do. If you see anything else, add it here.",
                kind="outcome",
                feedback=True,
            ),
        ),
        step(
            1,
            "09:55",
            SUPERVISOR,
            Close("duplicate", "Duplicate of the open case about the same group chat."),
        ),
    ),
)

EX_PARTNER = SampleCase(
    "ex_partner",
    24,
    _report(
        "corruption",
        "PC Dean Corbett on Kingsmere response has been using force systems to keep tabs on "
        "his ex-partner since she left him. I've seen him with her record open on the crime "
        "system in the report-writing room, and twice he has run her new partner's car "
        "through PNC when we weren't dealing with anything to do with them. Last week he told "
        "me he knew where she was living now and had 'driven past to see what she's playing "
        "at'. As far as I know she has a non-molestation order against him.",
        when="Several times over the last two months; the drive-past was last week",
        where="Kingsmere station, report-writing room; in the patrol car",
        who_involved="PC Dean Corbett, Kingsmere response team 2; his ex-partner",
        how_known_detail="I was crewed with him and saw the screens myself.",
        at_risk="yes",
        at_risk_detail="His ex-partner. He knows her new address and is angry about it.",
    ),
    (
        step(0, "16:30", SUPERVISOR, Move("acknowledged", "Possible current risk to a person.")),
        step(
            0,
            "16:35",
            SUPERVISOR,
            record(
                "high",
                categories=(SYSTEMS, DOMESTIC_ABUSE),
                subjects=(
                    Subject("Dean Corbett", "5127", "Police constable", "Response 2, Kingsmere"),
                ),
                relationship="colleague",
                risk_flags=("immediate_risk", "access_to_vulnerable", "re_identification"),
                source_evaluation="2",
                intelligence_assessment="C",
                handling_code="C",
                handling_conditions="Not to the subject's line management until the systems "
                "audit is complete. The ex-partner's details stay in the unit, except to the "
                "domestic abuse safeguarding lead.",
                decision="investigate",
                rationale="The searches can be checked against the systems' audit trail. Treat "
                "the risk to the ex-partner as current until safeguarding has assessed it.",
                intelligence_ref="CCU-INT-2318",
            ),
        ),
        step(0, "16:50", SUPERVISOR, Assign("reid")),
        step(0, "17:10", "reid", Declare()),
        step(0, "17:20", "reid", Note("Risk passed to the safeguarding lead; welfare check set.")),
        step(1, "09:30", "reid", Move("investigating", "Systems audit requested.")),
        step(
            1,
            "09:35",
            "reid",
            Write(
                "Thank you for telling us. We are acting on it, including the risk to the "
                "person you mention. Please don't discuss this at work. If you see him search "
                "for her or her partner again, note the date and time and tell us here."
            ),
        ),
        step(
            6,
            "15:10",
            "reid",
            Note(
                "Systems audit: 14 searches on the ex-partner and her partner's car in six weeks."
            ),
        ),
        step(
            7,
            "09:05",
            "reid",
            Note(
                "Correction: 17 searches, not 14. The audit covered two systems and I had "
                "counted one; three more PNC checks on the new partner's car.",
                corrects=2,
            ),
        ),
        step(8, "10:30", "reid", record(investigation_ref="CCU/INV/0421")),
        step(
            10,
            "07:45",
            REPORTER,
            Reply(
                "He did it again on Tuesday, about 3am on nights, on the terminal by the "
                "custody desk. He was laughing about it with someone on the phone."
            ),
        ),
        step(
            11,
            "09:15",
            "reid",
            Write(
                "Thank you, that is very useful. You don't need to do anything else. Please "
                "keep yourself safe and don't let on that you noticed."
            ),
        ),
        step(11, "09:20", "reid", Note("The 3am search matches the audit. Restriction tomorrow.")),
    ),
)

WARRANT_TIP_OFF = SampleCase(
    "warrant_tip_off",
    16,
    _report(
        "corruption",
        "We executed a drugs warrant at 14 Heron Walk on the Marsh estate last week. The "
        "briefing was the evening before. When we went in at 6am the house had been cleared: "
        "no drugs, no phones, and the occupants were waiting for us with a solicitor's number "
        "on the fridge. Only the team and CID knew the address. DC Pryor from CID, who wasn't "
        "on the warrant, asked me after the briefing which address we were hitting 'so he "
        "could keep an eye out'. I told him. I feel sick about it now.",
        when="The evening before the warrant, last week",
        where="Kingsmere station; 14 Heron Walk, Marsh estate",
        who_involved="DC Shaun Pryor (Kingsmere CID)",
        how_known_detail="He asked me directly.",
        at_risk="not_sure",
        at_risk_detail="Whoever gave the information for the warrant, if it was leaked.",
    ),
    (
        step(
            2,
            "09:30",
            SUPERVISOR,
            Move("acknowledged", "Possible leak of a warrant; the same subject as an open case."),
        ),
        step(
            2,
            "09:35",
            SUPERVISOR,
            record(
                "high",
                categories=(DISCLOSURE, JUSTICE),
                subjects=(PRYOR,),
                relationship="colleague",
                risk_flags=("immediate_risk", "victimisation", "re_identification"),
                source_evaluation="2",
                intelligence_assessment="B",
                handling_code="P",
                decision="assess_further",
                rationale="Fits the open association case. A source may be at risk.",
                links=(("association", "related_to"),),
            ),
        ),
        step(2, "09:40", SUPERVISOR, Assign("okafor")),
        step(2, "10:00", "okafor", Declare()),
        step(
            2,
            "10:15",
            "okafor",
            Write(
                "Thank you for coming forward, and for being honest about your part in it: "
                "you did nothing wrong by answering a colleague. Please don't raise it with "
                "him. Can you remember exactly when he asked, and was anyone nearby?"
            ),
        ),
        step(
            5,
            "18:30",
            REPORTER,
            Reply(
                "About 7.30pm in the corridor by the CID office, right after the briefing. "
                "Nobody else was there."
            ),
        ),
        step(6, "08:40", "okafor", Move("assessing", "Who saw the operation's records?")),
        step(
            6,
            "08:50",
            "okafor",
            Note(
                "Vance's associates use the Heron Walk address. Operation access audit asked for."
            ),
        ),
    ),
)

COCAINE = SampleCase(
    "cocaine",
    10,
    _report(
        "drugs_criminal_associations",
        "PC Jordan Ellery on A team talks openly about taking cocaine at weekends and at a "
        "colleague's stag do. He came in for an early shift on Sunday still looking wrecked, "
        "sniffing and grinding his teeth, and drove a marked car all shift. People say he "
        "buys from someone he went to school with.",
        when="Most weekends; the Sunday early was the weekend before last",
        where="Northgate station; off duty in town",
        who_involved="PC Jordan Ellery (A team, Northgate)",
        at_risk="yes",
        at_risk_detail="He drives on blue lights while possibly still under the influence.",
    ),
)

OVERTIME = SampleCase(
    "overtime",
    4,
    _report(
        "dishonesty",
        "PC Gareth Lomax claims overtime for going to court on his rest days, but at least "
        "twice the trial was called off the day before and he never went. I know because I "
        "was a witness in one of the same trials and we were both stood down by witness "
        "care. He still put in for the day. I think he has been doing it for a while.",
        when="Over the last few months",
        where="Eastbrook neighbourhood team",
        who_involved="PC Gareth Lomax",
    ),
    (
        step(1, "10:15", SUPERVISOR, Move("acknowledged", "Possible overtime fraud.")),
        step(
            1,
            "10:20",
            SUPERVISOR,
            record(
                "low",
                categories=(THEFT,),
                subjects=(Subject("Gareth Lomax", "4415", "Police constable", "Neighbourhood"),),
                relationship="colleague",
                source_evaluation="2",
                intelligence_assessment="B",
                handling_code="P",
                decision="assess_further",
                rationale="Checkable against court listings and duty records.",
            ),
        ),
        step(1, "10:25", "shah", Take(declared=True)),
        step(
            1,
            "10:40",
            "shah",
            Write(
                "Thank you for your report. To check this without anyone knowing why, it "
                "would help to know the trial or the court, and roughly when it was."
            ),
        ),
        step(
            3,
            "21:05",
            REPORTER,
            Reply(
                "The Crown Court, R v Stokes: witness care stood us both down the afternoon "
                "before, about six weeks ago. The other time was at the magistrates' court; "
                "I don't know the case name."
            ),
        ),
    ),
)

CANTEEN = SampleCase(
    "canteen",
    0,
    _report(
        "discrimination",
        "Inspector Graham Wilde sat with a group of male PCs in the canteen yesterday and went "
        "through the women on the new intake one by one, rating them out of ten and saying "
        "which ones he would 'take on a night shift'. Two of the women were at the next "
        "table and heard it. Everyone laughed along. He is the duty inspector for all of us.",
        when="Yesterday, around 1pm",
        where="Canteen, Hallam Road station",
        who_involved="Inspector Graham Wilde; several PCs from B team",
    ),
)

CASES = (
    PROPERTY_STORE,
    RECOVERY_GARAGE,
    DEALER_ASSOCIATION,
    BULLIED_PROBATIONER,
    VICTIM_MESSAGED,
    GROUP_CHAT,
    GROUP_CHAT_AGAIN,
    EX_PARTNER,
    WARRANT_TIP_OFF,
    COCAINE,
    OVERTIME,
    CANTEEN,
)

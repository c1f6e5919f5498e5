# ruff: noqa: RUF001  # the Chinese words are written with full-width punctuation
"""Every word of the clinician page, in English and in Chinese, and numbers for each locale.

The Chinese is written for patients: plain words, no variable names, and the
terms 间充质干细胞 (MSC), 静脉输注 (intravenous infusion), 旁分泌 (paracrine),
依赖性 (dependence), 耐受 (tolerance) and 反跳 (rebound). Numbers are formatted
per locale: cell counts as ``1.2×10⁸`` in English and ``1.2亿`` in Chinese, one
rule everywhere (:func:`cells`).

Examples
--------
>>> cells(1.2e8, "en"), cells(1.2e8, "zh"), cells(6.5e7, "zh")
('1.2×10⁸', '1.2亿', '6500万')
>>> text("days", "zh", n=number(12.5, "zh"))
'12.5天'
"""

from __future__ import annotations

import math
from typing import Literal

__all__ = [
    "LANGS",
    "PARAMETER_NAMES",
    "Lang",
    "cells",
    "check_lang",
    "days",
    "number",
    "parameter_name",
    "text",
    "ui_strings",
]

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def check_lang(lang: str) -> Lang:
    """Return ``lang`` if it is a language of the page.

    Raises
    ------
    SpecError
        ``lang = 'fr': must be 'en' or 'zh'``.
    """
    from mscsim.errors import SpecError

    if lang == "en":
        return "en"
    if lang == "zh":
        return "zh"
    raise SpecError(f"lang = {lang!r}: must be 'en' or 'zh'")


def number(x: float, lang: Lang, digits: int = 3) -> str:
    """Return ``x`` with ``digits`` significant digits, trailing zeros dropped.

    Examples
    --------
    >>> number(0.98860, "en"), number(14.5656, "en", 4), number(0.0, "zh")
    ('0.989', '14.57', '0')
    """
    if not math.isfinite(x):
        return "—"
    if x == 0:
        return "0"
    if abs(x) >= 10**digits:
        return f"{x:,.0f}" if lang == "en" else f"{x:.0f}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    out = f"{x:.{decimals}f}"
    if "." in out:
        out = out.rstrip("0").rstrip(".")
    return "0" if out in {"-0", ""} else out


def fixed(x: float, decimals: int = 2) -> str:
    """Return ``x`` with a fixed number of decimals (``-0.00`` written ``0.00``)."""
    out = f"{x:.{decimals}f}"
    return out[1:] if out.startswith("-") and float(out) == 0 else out


def cells(x: float, lang: Lang) -> str:
    """Return a cell count for people: ``6.5×10⁷`` (en) or ``6500万`` / ``1.2亿`` (zh)."""
    if not math.isfinite(x) or x < 0:
        return "—"
    if x < 1e4:
        return number(x, lang, 2) if x < 10 else f"{x:.0f}"
    if lang == "zh":
        for unit, size in (("万亿", 1e12), ("亿", 1e8), ("万", 1e4)):
            if x >= size:
                return f"{number(x / size, lang, 2 if x / size < 100 else 3)}{unit}"
    exponent = math.floor(math.log10(x))
    mantissa = x / 10**exponent
    if round(mantissa, 1) >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    head = f"{mantissa:.1f}".rstrip("0").rstrip(".")
    return f"{head}×10{str(exponent).translate(_SUPERSCRIPT)}"


def days(x: float, lang: Lang) -> str:
    """Return a number of days: ``12.5 days`` / ``12.5天``."""
    return text("days", lang, n=number(x, lang))


# --- words ---------------------------------------------------------------------------------

_T: dict[str, tuple[str, str]] = {
    # page frame
    "title": ("What MSC therapy does in the body", "间充质干细胞治疗在体内的作用"),
    "subtitle": (
        "A model of mesenchymal stem/stromal cells (MSC): where the living cells go, what they "
        "do, and what happens when treatment stops. It is a simulation, not a prediction for "
        "one patient.",
        "这是一个间充质干细胞治疗的计算模型：活细胞去了哪里、起什么作用、停止治疗后会怎样。"
        "它是模拟，不是对某一位患者的预测。",
    ),
    "language": ("Language", "语言"),
    "preset": ("Example", "示例"),
    "disease": ("Disease", "疾病"),
    "route": ("How the cells are given", "给药方式"),
    "source": ("Where the cells come from", "细胞来源"),
    "donor": ("Donor", "供者"),
    "viability": ("Living cells in the product (%)", "制剂中活细胞比例（%）"),
    "dose_unit": ("Dose given as", "剂量写法"),
    "dose_per_kg": ("cells per kg body weight", "每公斤体重的细胞数"),
    "dose_total": ("cells per dose", "每次总细胞数"),
    "dose": ("Dose", "剂量"),
    "weight": ("Body weight (kg)", "体重（公斤）"),
    "count": ("Number of doses", "治疗次数"),
    "every_days": ("Days between doses", "两次治疗间隔（天）"),
    "horizon": ("Days to follow", "观察天数"),
    "baseline": ("Starting score", "起始评分"),
    "run": ("Show the answers", "查看结果"),
    "download_pdf": ("Download the report (PDF)", "下载报告（PDF）"),
    "download_html": ("Download the report (web page)", "下载报告（网页）"),
    "running": ("Computing…", "正在计算……"),
    "refused": ("This input cannot be used:", "输入有误，无法计算："),
    "reading": ("What this shows", "结论"),
    "sources": ("Sources", "资料来源"),
    "sources_original": ("Source text", "资料原文（英文）"),
    "notes": ("Technical notes", "技术提示"),
    "offline": (
        "Everything on this page runs on this computer; nothing is sent elsewhere.",
        "本页面的全部计算都在这台电脑上完成，不会发送到别处。",
    ),
    "disclaimer": (
        "Numbers come from a model with stated assumptions; ask your doctor what they mean "
        "for you.",
        "以下数字来自一个有明确假设的模型，具体对您意味着什么，请咨询您的医生。",
    ),
    "worse_up": ("higher is worse", "越高越差"),
    "worse_down": ("lower is worse", "越低越差"),
    "days": ("{n} days", "{n}天"),
    "day_axis": ("Day after the first dose", "第一次治疗后的天数"),
    "dose_marker": ("dose", "治疗"),
    "stop_marker": ("treatment stopped", "停止治疗"),
    # section titles
    "cells_title": ("Where are the living cells?", "活细胞在哪里、能存活多久？"),
    "course_title": (
        "What do the cells do to the disease?",
        "细胞对病情有什么作用？",
    ),
    "compare_title": ("Why several infusions?", "为什么要分几次治疗？"),
    "withdrawal_title": (
        "Does stopping cause dependence?",
        "停止治疗会产生依赖性吗？",
    ),
    "dose_title": ("Is this dose in the range studied?", "这个剂量在研究过的范围内吗？"),
    "guesses_title": ("What is a guess?", "哪些是推测？"),
    # axes
    "cells_axis": ("Living cells (log scale)", "活细胞数（对数刻度）"),
    "effect_axis": ("Effect of the cells (0 none, 1 largest)", "细胞作用强度（0无，1最大）"),
    "effect_axis_short": ("Effect (0-1)", "作用强度（0-1）"),
    "dose_axis_cells": ("Cells per dose (log scale)", "每次细胞数（对数刻度）"),
    "elasticity_axis": (
        "% change of the answer for a 1% change of the guess",
        "推测值变化1%时结果变化的百分比",
    ),
    # traces
    "total": ("all living cells", "全身活细胞"),
    "band": (
        "all living cells, survival anywhere in the evidence's range",
        "全身活细胞（存活时间取证据范围内任意值）",
    ),
    "band_low": ("shortest survival in the evidence", "证据中最短的存活时间"),
    "band_high": ("longest survival in the evidence", "证据中最长的存活时间"),
    "treated": ("with this treatment", "接受本方案治疗"),
    "untreated": ("without treatment", "不治疗"),
    "effect": ("effect of the cells", "细胞作用强度"),
    "stopped": ("treatment stopped", "停止治疗"),
    "continued": ("treatment continued", "继续治疗"),
    "msc_panel": ("MSC (this treatment)", "间充质干细胞（本方案）"),
    "drug_panel": (
        "A drug with tolerance (for comparison)",
        "对照：会产生耐受的药物",
    ),
    "drug_axis": (
        "Drug response (x untreated, higher is better)",
        "药物反应（以不治疗为1，越高越好）",
    ),
    "typical": ("range commonly used", "常用范围"),
    "highest": ("highest studied", "研究过的最高剂量"),
    "this_dose": ("this dose", "本方案剂量"),
    "regimen_one": ("1 dose of {cells}", "1次，每次{cells}"),
    "when_now": ("right at the dose", "给药时"),
    "list_or": (" or ", "或"),
    "when_day": ("on day {d}", "在第{d}天"),
    "when_start": ("{h} after the first dose", "第一次治疗后{h}"),
    "regimen_many": ("{n} doses of {cells} every {every}", "{n}次，每次{cells}，每隔{every}"),
    # compartments
    "cells_lung": ("lungs", "肺"),
    "cells_blood": ("blood", "血液"),
    "cells_liver_spleen": ("liver and spleen", "肝脏和脾脏"),
    "cells_target": ("treated tissue", "治疗部位"),
    # diseases and outcomes
    "disease_none": ("none (cells only)", "不指定（只看细胞）"),
    "disease_sca": ("spinocerebellar ataxia (SCA)", "脊髓小脑共济失调（SCA）"),
    "disease_limb_ischemia": ("critical limb ischemia", "严重下肢缺血"),
    "disease_inflammation": ("inflammation", "炎症"),
    "outcome_sara_score": ("Ataxia score SARA (0-40 points)", "共济失调评分SARA（0-40分）"),
    "outcome_perfusion_ratio": (
        "Blood flow in the leg (ischemic / healthy)",
        "患肢血流（患侧/健侧）",
    ),
    "outcome_inflammation_index": (
        "Inflammation (1 = untreated steady level)",
        "炎症水平（不治疗时的稳定水平为1）",
    ),
    "outcome_response": ("Response", "反应"),
    "oname_sara_score": ("ataxia score (SARA)", "共济失调评分（SARA）"),
    "oname_perfusion_ratio": ("blood flow in the leg", "患肢血流"),
    "oname_inflammation_index": ("inflammation level", "炎症水平"),
    "unit_sara_score": ("points", "分"),
    "unit_perfusion_ratio": ("", ""),
    "unit_inflammation_index": ("", ""),
    # routes, sources, donors
    "route_intravenous": ("intravenous infusion", "静脉输注"),
    "route_intra_arterial": ("infusion into an artery", "动脉输注"),
    "route_intramuscular": ("injection into the muscle", "肌肉注射"),
    "route_intra_articular": ("injection into the joint", "关节腔注射"),
    "route_intrathecal": ("injection into the spinal fluid", "鞘内注射（注入脑脊液）"),
    "route_intralesional": ("injection into the diseased tissue", "病灶内注射"),
    "source_umbilical_cord": ("umbilical cord", "脐带"),
    "source_bone_marrow": ("bone marrow", "骨髓"),
    "source_adipose": ("fat tissue", "脂肪组织"),
    "donor_allogeneic": ("another person (allogeneic)", "他人捐献（异体）"),
    "donor_autologous": ("the patient (autologous)", "患者本人（自体）"),
    # presets
    "preset_sca_uc_iv": (
        "SCA: umbilical-cord MSC, intravenous infusion every 90 days",
        "脊髓小脑共济失调：脐带间充质干细胞，每90天静脉输注一次",
    ),
    "preset_cli_bm_im": (
        "Limb ischemia: own bone-marrow MSC injected into the leg muscle",
        "下肢缺血：自体骨髓间充质干细胞，腿部肌肉注射",
    ),
    "preset_inflammation_uc_iv": (
        "Inflammation: umbilical-cord MSC, weekly intravenous infusion (illustrative)",
        "炎症：脐带间充质干细胞，每周静脉输注（示意）",
    ),
    "preset_none_uc_iv": (
        "Cells only: umbilical-cord MSC, one intravenous infusion",
        "只看细胞：脐带间充质干细胞，一次静脉输注",
    ),
    # dose verdicts
    "verdict_typical": ("within the range commonly used", "在常用范围内"),
    "verdict_unusual": (
        "outside the common range, but within the doses studied",
        "不在常用范围内，但在研究过的剂量之内",
    ),
    "verdict_beyond the highest studied": (
        "above every dose studied for this route",
        "超过了这种给药方式研究过的所有剂量",
    ),
    "verdict_no human dose evidence": (
        "not checked: no human dose for this route in the evidence",
        "无法核对：证据中没有这种给药方式的人体剂量",
    ),
    # readings
    "r_cells": (
        "Most living cells are in the {where} (at most {peak}, {when}); {after} after the last "
        "dose fewer than one living cell is left (day {gone}), or after {low} to {high} if cell "
        "survival lies anywhere in the range the evidence supports.",
        "大部分活细胞在{where}（最多{peak}，{when}）；最后一次治疗后{after}，体内已不到一个活细胞"
        "（第{gone}天）；若细胞存活时间取证据支持范围内的任意值，则为{low}到{high}。",
    ),
    "r_cells_still": (
        "Most living cells are in the {where} (at most {peak}, {when}); {left} living "
        "cells are still there at the end of day {end}.",
        "大部分活细胞在{where}（最多{peak}，{when}）；到第{end}天结束时仍有{left}个活细胞。",
    ),
    "r_no_doses": ("No cells are given in this scenario.", "这个方案没有给细胞。"),
    "r_course": (
        "On day {end} the {outcome} is {treated} with treatment and {untreated} without: "
        "{diff}{unit} {better_worse} ({direction}). The cells act through what they "
        "secrete (paracrine effect): it is above half of its largest value for {above} in all.",
        "第{end}天时，{outcome}治疗后为{treated}，不治疗为{untreated}：{better_worse}{diff}"
        "{unit}（{direction}）。细胞通过分泌的物质起作用（旁分泌作用），作用强度超过最大值一半的"
        "时间共{above}。",
    ),
    "r_course_none": (
        "The cells act through what they secrete (paracrine effect): it is above half of its "
        "largest value for {above} in all; no disease course was chosen.",
        "细胞通过分泌的物质起作用（旁分泌作用），作用强度超过最大值一半的时间共{above}；"
        "没有选择疾病，所以不显示病程。",
    ),
    "cmp_better": ("better", "好了"),
    "cmp_worse": ("worse", "差了"),
    "r_compare": (
        "The same {total} living cells given as {best} keep the effect above half of its "
        "largest value for {best_days}, against {one_days} as one dose; on day {end} the "
        "{outcome} differs by {diff}{unit} between them.",
        "同样{total}个活细胞，分成{best}时，作用强度超过最大值一半的时间为{best_days}，"
        "一次全部给完只有{one_days}；第{end}天时两者的{outcome}相差{diff}{unit}。",
    ),
    "r_compare_none": (
        "The same {total} living cells given as {best} keep the effect above half of its "
        "largest value for {best_days}, against {one_days} as one dose.",
        "同样{total}个活细胞，分成{best}时，作用强度超过最大值一半的时间为{best_days}，"
        "一次全部给完只有{one_days}。",
    ),
    "r_compare_one_best": (
        "Here one dose does best: the same {total} living cells as one dose keep the effect "
        "above half of its largest value for {one_days}, and split into {other} for {other_days}.",
        "这里一次给完效果最好：同样{total}个活细胞一次给完，作用强度超过最大值一半的时间为"
        "{one_days}；分成{other}时为{other_days}。",
    ),
    "r_compare_refused": (
        "The doses could not be compared: {why}",
        "无法比较不同的分次方式：{why}",
    ),
    "r_withdrawal_none": (
        "After stopping, the {outcome} returns to the untreated course; it never becomes worse "
        "than without treatment (largest difference {rebound}{unit}): no rebound, no "
        "dependence. The benefit is {peak}{unit} at most after the stop and {end_benefit}"
        "{unit} on day {end}.",
        "停止治疗后，{outcome}回到不治疗的病程，从未比不治疗更差（最大差别{rebound}{unit}），"
        "即没有反跳，也没有依赖性。停止后的获益最多{peak}{unit}，到第{end}天为{end_benefit}{unit}。",
    ),
    "r_withdrawal_rebound": (
        "After stopping, the {outcome} becomes worse than without treatment by up to "
        "{rebound}{unit} (day {rebound_day}): a rebound.",
        "停止治疗后，{outcome}比不治疗更差，最多差{rebound}{unit}（第{rebound_day}天），"
        "即出现反跳。",
    ),
    "r_tolerance_none": (
        " Given again and again, the cells act about as much at the last dose as at the "
        "first (tolerance index {tol}; 1 means no tolerance).",
        "反复治疗时，最后一次的作用和第一次差不多（耐受指数{tol}，1表示没有耐受）。",
    ),
    "r_tolerance": (
        " With repeated doses the last dose acts less than the first (tolerance index {tol}; "
        "1 means no tolerance).",
        "反复治疗时，最后一次的作用比第一次弱（耐受指数{tol}，1表示没有耐受）。",
    ),
    "r_tolerance_more": (
        " With repeated doses the last dose acts more than the first (tolerance index {tol}; "
        "1 means no tolerance).",
        "反复治疗时，最后一次的作用比第一次强（耐受指数{tol}，1表示没有耐受）。",
    ),
    "r_drug": (
        " The comparison drug, taken daily, loses effect while it is continued (tolerance "
        "index {tol}) and after stopping falls {rebound}% below the untreated level (rebound).",
        "作为对照，每天服用的药物在持续使用中作用减弱（耐受指数{tol}），停药后比不治疗还低"
        "{rebound}%（反跳）。",
    ),
    "r_drug_no_rebound": (
        " The comparison drug, taken daily, has tolerance index {tol} and no rebound here.",
        "作为对照，每天服用的药物耐受指数为{tol}，这里没有反跳。",
    ),
    "r_withdrawal_refused": (
        "Stopping could not be simulated: {why}",
        "无法模拟停止治疗：{why}",
    ),
    "why_no_disease": (
        "no disease course was chosen, so there is nothing to stop.",
        "没有选择疾病，所以没有可比较的病程。",
    ),
    "why_one_dose": (
        "it needs at least two doses, to know the schedule that would continue.",
        "至少需要两次治疗，才知道继续治疗的时间表。",
    ),
    "why_no_doses": ("no cells are given.", "没有给细胞。"),
    "why_horizon": (
        "the split doses would not fit in the days followed.",
        "分次后的治疗超出了观察天数。",
    ),
    "r_dose": (
        "{per_dose} per dose by {route} ({per_kg} per kg) is {verdict}; commonly used: "
        "{typical}; highest studied: {highest}.",
        "每次{per_dose}、{route}（每公斤{per_kg}）{verdict}；常用：{typical}；研究过的最高："
        "{highest}。",
    ),
    "per_kg_suffix": (" per kg", "/公斤"),
    "none_known": ("not known", "无资料"),
    "r_guess": (
        "{n} of the numbers this answer uses are modelling guesses with no measurement behind "
        "them; with all of them anywhere in their plausible ranges the {what} lies between "
        "{low} and {high} (5-95%, {runs} runs), and it depends most on {top}.",
        "这个结果用到的数字中有{n}个是没有测量依据的建模推测；把它们在合理范围内任意取值，"
        "{what}在{low}到{high}之间（5%-95%，共{runs}次模拟），最受影响的是{top}。",
    ),
    "r_guess_no_sensitivity": (
        "{n} of the numbers this answer uses are modelling guesses with no measurement behind "
        "them; how much the answer depends on them is not computed here.",
        "这个结果用到的数字中有{n}个是没有测量依据的建模推测；这里没有计算结果对它们的依赖程度。",
    ),
    "what_outcome_change": ("change of the {outcome} by day {end}", "到第{end}天{outcome}的变化"),
    "what_cell_days": ("living cells at the treated tissue over time", "治疗部位活细胞的累计量"),
    "guess_value": (
        "assumed {value}, plausible {low} to {high}",
        "假设为{value}，合理范围{low}到{high}",
    ),
    "list_sep": (", ", "、"),
    "list_and": (" and ", "和"),
}


PARAMETER_NAMES: dict[str, tuple[str, str]] = {
    "lung_trap_fraction": ("share of cells caught in the lungs", "被肺截留的细胞比例"),
    "lung_half_life_days": ("survival of cells in the lungs", "细胞在肺内的存活时间"),
    "lung_release_fraction": (
        "share of cells leaving the lungs alive",
        "活着离开肺的细胞比例",
    ),
    "blood_half_life_days": ("time cells circulate in the blood", "细胞在血液中循环的时间"),
    "homing_fraction": (
        "share of cells that reach the diseased tissue",
        "到达病变组织的细胞比例",
    ),
    "liver_spleen_half_life_days": (
        "survival of cells in the liver and spleen",
        "细胞在肝脏和脾脏的存活时间",
    ),
    "target_half_life_days": (
        "survival of cells at the treated tissue",
        "细胞在治疗部位的存活时间",
    ),
    "target_capacity_cells": (
        "how many cells the treated tissue can hold",
        "治疗部位能容纳的细胞数",
    ),
    "overflow_half_life_days": (
        "how fast cells beyond that capacity are lost",
        "超出容纳量的细胞流失的快慢",
    ),
    "local_leak_per_day": (
        "how fast cells leak from the injection site into the blood",
        "细胞从注射部位漏入血液的快慢",
    ),
    "early_loss_fraction": (
        "share of cells lost right after injection",
        "注射后很快流失的细胞比例",
    ),
    "early_loss_half_life_days": ("how fast that early loss happens", "早期流失的快慢"),
    "ia_lung_fraction": (
        "share of an arterial dose that ends up in the lungs",
        "动脉输注后进入肺的细胞比例",
    ),
    "ia_microvascular_loss_fraction": (
        "share of an arterial dose lost in small vessels",
        "动脉输注后在微血管中损失的比例",
    ),
    "immune_clearance_per_day": (
        "how fast the immune system removes donor cells",
        "免疫系统清除供者细胞的快慢",
    ),
    "sensitised_clearance_multiplier": (
        "how much faster a sensitised immune system removes them",
        "免疫系统被致敏后清除加快的倍数",
    ),
    "sensitising_exposure_cell_days": (
        "how many donor cells it takes to sensitise the immune system",
        "使免疫系统致敏所需的供者细胞量",
    ),
    "immune_priming_half_life_days": (
        "how long the immune system takes to be primed",
        "免疫系统被激活所需的时间",
    ),
    "immune_memory_half_life_days": (
        "how long the immune memory of donor cells lasts",
        "免疫系统对供者细胞的记忆持续时间",
    ),
    "dsa_probability": (
        "share of patients who form antibodies against the donor",
        "产生抗供者抗体的患者比例",
    ),
    "ibmir_max_loss": (
        "largest share of infused cells destroyed by the blood at once",
        "输注时被血液立即破坏的细胞的最大比例",
    ),
    "ibmir_half_dose_cells_per_kg": (
        "dose at which that loss is half its largest",
        "上述破坏达到一半时的剂量",
    ),
    "secretion_per_million_cells": (
        "how much the cells secrete",
        "细胞分泌量",
    ),
    "factor_half_life_days": (
        "how long the secreted substances last",
        "分泌物在体内的持续时间",
    ),
    "systemic_share": (
        "share of what cells outside the diseased tissue secrete that reaches it",
        "病变组织以外的细胞分泌物到达病变组织的比例",
    ),
    "effect_emax": ("largest effect the cells can have", "细胞能达到的最大作用"),
    "effect_ec50_ng": (
        "amount of secreted substance giving half the largest effect",
        "达到一半最大作用所需的分泌物量",
    ),
    "effect_hill": ("how steeply the effect rises with the amount", "作用随分泌量上升的陡峭程度"),
    "sara_max_slowing": (
        "how much of the progression the cells can halt",
        "细胞能阻止的病情进展比例",
    ),
    "sara_max_improvement_points": (
        "how many SARA points symptoms can improve",
        "症状最多能改善的SARA分数",
    ),
    "sara_benefit_half_life_days": (
        "how fast the symptom improvement follows the effect",
        "症状改善跟随细胞作用的快慢",
    ),
    "perfusion_half_life_days": (
        "how fast blood flow recovers on its own",
        "血流自行恢复的快慢",
    ),
    "perfusion_plateau_ratio": (
        "blood flow the leg recovers to on its own",
        "患肢血流自行恢复到的水平",
    ),
    "perfusion_max_acceleration": (
        "how much the cells can speed that recovery",
        "细胞能使恢复加快的程度",
    ),
    "inflammation_half_life_days": (
        "how fast inflammation changes",
        "炎症变化的快慢",
    ),
    "inflammation_max_inhibition": (
        "how much the cells can damp inflammation",
        "细胞能抑制炎症的程度",
    ),
}


def text(key: str, lang: Lang, **values: object) -> str:
    """Return the words ``key`` in ``lang``, with ``values`` filled in."""
    words = _T[key][0 if lang == "en" else 1]
    return words.format(**values) if values else words


def has_text(key: str) -> bool:
    """Return whether ``key`` has words."""
    return key in _T


def parameter_name(name: str, lang: Lang, description: str = "") -> str:
    """Return a parameter in plain words (its description if it has no plain name)."""
    if name in PARAMETER_NAMES:
        return PARAMETER_NAMES[name][0 if lang == "en" else 1]
    return description or text("none_known", lang)


def join(items: list[str], lang: Lang) -> str:
    """Return ``a, b and c`` / ``a、b和c``."""
    if len(items) <= 1:
        return "".join(items)
    return text("list_sep", lang).join(items[:-1]) + text("list_and", lang) + items[-1]


def ui_strings(lang: Lang) -> dict[str, str]:
    """Return every word of the page frame (the keys without placeholders) in ``lang``."""
    return {k: v[0 if lang == "en" else 1] for k, v in _T.items() if "{" not in v[0]}

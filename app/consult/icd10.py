"""A curated list of common ICD-10 codes for township clinics, searchable by code, Chinese
name, English name or pinyin initials — the diagnosis picker's list. Free text stays allowed.

Licence and source: no ICD-10 list whose licence allows redistributing it in full could be
fetched here (WHO's ICD-10 tabular list is CC BY-NC-SA 3.0 IGO — not for a product that may
be sold; China's 国家临床版 2.0 is distributed by the NHC without a redistribution grant;
the US ICD-10-CM, public domain, is a different classification with extra digits). So this is a
small hand-curated list: the category codes of WHO ICD-10 (codes are facts, not expression)
with short English titles following WHO's wording and Chinese names as used in Chinese
clinical practice, written for this project. A hospital that licenses the full 国家临床版 can
replace :data:`CODES` (same three columns) without code changes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Icd10:
    code: str
    name_zh: str
    name_en: str


_RAW = """\
A09|感染性腹泻和胃肠炎|Infectious gastroenteritis and colitis
A15.0|肺结核|Tuberculosis of lung
A16.2|肺结核（未经细菌学或组织学证实）|Tuberculosis of lung, not confirmed
B01.9|水痘|Varicella without complication
B02.9|带状疱疹|Zoster without complication
B18.1|慢性乙型病毒性肝炎|Chronic viral hepatitis B
B18.2|慢性丙型病毒性肝炎|Chronic viral hepatitis C
C16.9|胃恶性肿瘤|Malignant neoplasm of stomach
C18.9|结肠恶性肿瘤|Malignant neoplasm of colon
C22.0|肝细胞癌|Liver cell carcinoma
C34.9|支气管或肺恶性肿瘤|Malignant neoplasm of bronchus or lung
C50.9|乳房恶性肿瘤|Malignant neoplasm of breast
C53.9|子宫颈恶性肿瘤|Malignant neoplasm of cervix uteri
D50.9|缺铁性贫血|Iron deficiency anaemia
D64.9|贫血|Anaemia, unspecified
E03.9|甲状腺功能减退症|Hypothyroidism, unspecified
E05.9|甲状腺毒症（甲状腺功能亢进症）|Thyrotoxicosis, unspecified
E10.9|1型糖尿病|Type 1 diabetes mellitus without complications
E11.9|2型糖尿病|Type 2 diabetes mellitus without complications
E11.2|2型糖尿病伴肾并发症|Type 2 diabetes mellitus with renal complications
E11.3|2型糖尿病伴眼并发症|Type 2 diabetes mellitus with ophthalmic complications
E11.4|2型糖尿病伴神经并发症|Type 2 diabetes mellitus with neurological complications
E11.5|2型糖尿病伴周围循环并发症|Type 2 diabetes mellitus with peripheral circulatory complications
E66.9|肥胖症|Obesity, unspecified
E78.5|高脂血症|Hyperlipidaemia, unspecified
E79.0|高尿酸血症|Hyperuricaemia without signs of gout
F32.9|抑郁发作|Depressive episode, unspecified
F41.1|广泛性焦虑障碍|Generalized anxiety disorder
F51.0|失眠症（非器质性）|Nonorganic insomnia
G40.9|癫痫|Epilepsy, unspecified
G43.9|偏头痛|Migraine, unspecified
G45.9|短暂性脑缺血发作|Transient cerebral ischaemic attack, unspecified
G20|帕金森病|Parkinson disease
H25.9|老年性白内障|Senile cataract, unspecified
H40.9|青光眼|Glaucoma, unspecified
I10|原发性高血压|Essential (primary) hypertension
I11.9|高血压性心脏病|Hypertensive heart disease without heart failure
I20.9|心绞痛|Angina pectoris, unspecified
I21.9|急性心肌梗死|Acute myocardial infarction, unspecified
I25.1|动脉粥样硬化性心脏病|Atherosclerotic heart disease
I48|心房颤动和扑动|Atrial fibrillation and flutter
I49.9|心律失常|Cardiac arrhythmia, unspecified
I50.9|心力衰竭|Heart failure, unspecified
I61.9|脑出血|Intracerebral haemorrhage, unspecified
I63.9|脑梗死|Cerebral infarction, unspecified
I63.8|其他脑梗死（腔隙性脑梗死）|Other cerebral infarction
I67.2|脑动脉粥样硬化|Cerebral atherosclerosis
I69.3|脑梗死后遗症|Sequelae of cerebral infarction
I70.2|四肢动脉粥样硬化|Atherosclerosis of arteries of extremities
I83.9|下肢静脉曲张|Varicose veins of lower extremities
J00|急性鼻咽炎（普通感冒）|Acute nasopharyngitis [common cold]
J02.9|急性咽炎|Acute pharyngitis, unspecified
J06.9|急性上呼吸道感染|Acute upper respiratory infection, unspecified
J18.9|肺炎|Pneumonia, unspecified
J20.9|急性支气管炎|Acute bronchitis, unspecified
J42|慢性支气管炎|Unspecified chronic bronchitis
J44.9|慢性阻塞性肺疾病|Chronic obstructive pulmonary disease, unspecified
J44.1|慢性阻塞性肺疾病急性加重|COPD with acute exacerbation
J45.9|支气管哮喘|Asthma, unspecified
J47|支气管扩张|Bronchiectasis
K21.9|胃食管反流病|Gastro-oesophageal reflux disease without oesophagitis
K25.9|胃溃疡|Gastric ulcer
K26.9|十二指肠溃疡|Duodenal ulcer
K29.5|慢性胃炎|Chronic gastritis, unspecified
K35.8|急性阑尾炎|Acute appendicitis
K40.9|腹股沟疝|Inguinal hernia
K70.3|酒精性肝硬化|Alcoholic cirrhosis of liver
K74.6|肝硬化|Other and unspecified cirrhosis of liver
K76.0|脂肪肝|Fatty (change of) liver, not elsewhere classified
K80.2|胆囊结石|Calculus of gallbladder without cholecystitis
K81.1|慢性胆囊炎|Chronic cholecystitis
K59.0|便秘|Constipation
L20.9|特应性皮炎|Atopic dermatitis, unspecified
L30.9|皮炎|Dermatitis, unspecified
M10.9|痛风|Gout, unspecified
M17.9|膝关节病（骨关节炎）|Gonarthrosis, unspecified
M47.8|脊椎病|Other spondylosis
M48.0|椎管狭窄|Spinal stenosis
M51.2|腰椎间盘突出|Other specified intervertebral disc displacement
M54.5|腰痛|Low back pain
M81.9|骨质疏松|Osteoporosis, unspecified
N18.9|慢性肾脏病|Chronic kidney disease, unspecified
N20.0|肾结石|Calculus of kidney
N39.0|泌尿道感染|Urinary tract infection, site not specified
N40|前列腺增生|Hyperplasia of prostate
O80|单胎顺产|Single spontaneous delivery
R05|咳嗽|Cough
R07.4|胸痛|Chest pain, unspecified
R10.4|腹痛|Other and unspecified abdominal pain
R42|头晕和眩晕|Dizziness and giddiness
R50.9|发热|Fever, unspecified
R51|头痛|Headache
R91|肺部影像学异常（肺结节）|Abnormal findings on diagnostic imaging of lung
R94.3|心电图异常|Abnormal results of cardiovascular function studies
S06.0|脑震荡|Concussion
S52.5|桡骨下端骨折|Fracture of lower end of radius
S72.0|股骨颈骨折|Fracture of neck of femur
S82.8|小腿其他骨折|Fractures of other parts of lower leg
T14.9|损伤|Injury, unspecified
Z00.0|一般健康检查|General medical examination
Z34.9|正常妊娠监督|Supervision of normal pregnancy, unspecified
"""

CODES: tuple[Icd10, ...] = tuple(
    Icd10(*line.split("|")) for line in _RAW.splitlines() if line.strip()
)


def _initials(text: str) -> str:
    try:
        from pypinyin import Style, lazy_pinyin
    except ImportError:  # pinyin search is a convenience
        return ""
    return "".join(p[0] for p in lazy_pinyin(text, style=Style.FIRST_LETTER) if p).lower()


_INDEX: list[tuple[Icd10, str]] | None = None


def search(query: str, limit: int = 20) -> list[tuple[str, str, str]]:
    """[(code, name_zh, name_en)] matching ``query`` (code prefix first, then names and
    pinyin initials); an empty query lists the first ``limit``."""
    global _INDEX
    if _INDEX is None:
        _INDEX = [(c, f"{c.name_zh}|{c.name_en.lower()}|{_initials(c.name_zh)}") for c in CODES]
    q = query.strip().lower()
    by_code = [c for c, _ in _INDEX if c.code.lower().startswith(q)]
    by_name = [c for c, text in _INDEX if q in text and c not in by_code]
    return [(c.code, c.name_zh, c.name_en) for c in (by_code + by_name)[:limit]]


def lookup(code: str) -> Icd10 | None:
    """The entry for an exact code (None when it is not on the curated list)."""
    code = code.strip().upper()
    return next((c for c in CODES if c.code == code), None)

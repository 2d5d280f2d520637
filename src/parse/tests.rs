//! The parser on OCR-like text: what Tesseract gives for each layout, with
//! its usual slips, and the distractors each page carries.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

/// Everything the parser returned, as flat canonical keys like the fixtures.
fn flat(p: &ParsedScreenshot) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = p
        .fields
        .iter()
        .map(|(f, v)| (f.key().to_string(), v.to_string()))
        .collect();
    if let Some(l) = p.layout {
        m.insert("layout".into(), l.as_str().into());
    }
    if let Some(k) = p.kind {
        m.insert("kind".into(), k.as_str().into());
    }
    m
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn single(text: &str) -> ParsedScreenshot {
    parse_page(&OcrPage::from_text(text), Codes::SingleRead)
}

/// [`single`] on a page shaped like a phone's screenshot.
fn phone(text: &str) -> ParsedScreenshot {
    let mut page = OcrPage::from_text(text);
    page.height = page.width * 2;
    parse_page(&page, Codes::SingleRead)
}

const REPORT: &str = "\
学信网 www.chsi.com.cn
教育部学历证书电子注册备案表
Online Verification Report of Higher Education Qualification Certificate
更新月期 : 2014年08月16日
姓名               尹梓晗
性别              女
出生日期        1990年04月09日
人学日期        2007年09月08日
毕(结)业日期 2010年07月25日
学校名称        北京卫生职业学院
专业              临床医学
学制            3 年
层次              专科
学历类别        普通高等教育
学习形式        普通全日制
毕(结)业         毕业
证书编号        140191201006326546，
校(院)长姓名”欧阳辉凯
民师    在线验证码 : TOUV3NJREPVXMNR3
注 : 1，《教育部学历证书电子注册备案表》是依据教育部学历证书电子注册制度出具的学历证书电子注册信息证明。2.本报告在
线验证有效期至2014年10月15日。3.可登录学信网 (https://www.chsi.com.cn/xlcx/bgcxjsp) 输入在线验证码进行查询验
证。";

const WEB: &str = "\
学信和档案 -scome                                        欢迎您，133****9564 | 退出
首页 。 高等教育信息 。 在线验证报告 。 出国教育背景信息服务 图像校对 调查/投票 。 就业
学籍     | 学历     学位          考研信息
以下信息来源于高校学历电子注册，如有疑问请与学校联系。
姓名: ” 钱晨可                                         性别: 女
证件号码: 。 3702+9exxxtwwx5189                                出生日期: 。 1979年10月23日
入学日期: 2012年09月15日                   毕 〈结) 业日期: 。 2015年01月20日
学校名称: ”西安交通大学                                  分院: ”继续教育学院
四                           专业:护理                                            系所:无
学制: ”2.5年                                                  层次: ”专科
学历类别: ”成人高等教育                 学习形式: ”函授
毕 (结) 业:结业                                       证书编号: 。 106985201506020708
校(院) 长姓名: ”何勇瑞
Copyright @ 2003-2024 学信网 All Rights Reserved";

const MOBILE: &str = "\
20:58
学位信息
学位照片
姓名                    周岚静
性别                        女
证件号码       1101**********4782
出生日期              1995-04-06
获学位日期            2018-07-30
学位授予单位            中山大学
所授学位            理学学士学位
学科/专业             康复治疗学
学位证书编号      1055842018262043";

const DEGREE: &str = "\
学信网 www.chsi.com.cn
中国高等教育学位在线验证报告
更新日期: 2017年05月13日
姓名          马睿喆
性别          男
出生日期      1994年09月02日
获学位日期    2016年07月20日
学位授予单位  郑州大学
所授学位      理学学士学位
学科/专业     护理学
学位证书编号  1045942016926995
在线验证码: FSKU VT72 NN8N EK0J
注: 1.本报告依据中国高等教育学位信息数据库出具。2.本报告在线验证有效期至2017年11月09日。3.请登录学信网输入在线验证码进行查询验证。";

#[test]
fn each_layout_reads_to_canonical_fields() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        (
            REPORT,
            &[
                ("layout", "report"),
                ("kind", "diploma"),
                ("name", "尹梓晗"),
                ("gender", "女"),
                ("birth_date", "1990-04-09"),
                ("enrollment_date", "2007-09-08"),
                ("graduation_date", "2010-07-25"),
                ("school", "北京卫生职业学院"),
                ("major", "临床医学"),
                ("duration", "3"),
                ("level", "专科"),
                ("category", "普通高等教育"),
                ("study_mode", "普通全日制"),
                ("completion", "毕业"),
                ("certificate_no", "140191201006326546"),
                ("principal", "欧阳辉凯"),
                ("vcode", "T0UV3NJREPVXMNR3"),
            ],
        ),
        (
            WEB,
            &[
                ("layout", "web"),
                ("kind", "diploma"),
                ("name", "钱晨可"),
                ("gender", "女"),
                ("id_number_masked", "3702**********5189"),
                ("birth_date", "1979-10-23"),
                ("enrollment_date", "2012-09-15"),
                ("graduation_date", "2015-01-20"),
                ("school", "西安交通大学"),
                ("major", "护理"),
                ("duration", "2.5"),
                ("level", "专科"),
                ("category", "成人高等教育"),
                ("study_mode", "函授"),
                ("completion", "结业"),
                ("certificate_no", "106985201506020708"),
                ("principal", "何勇瑞"),
            ],
        ),
        (
            MOBILE,
            &[
                ("layout", "mobile"),
                ("kind", "degree"),
                ("name", "周岚静"),
                ("gender", "女"),
                ("id_number_masked", "1101**********4782"),
                ("birth_date", "1995-04-06"),
                ("degree_date", "2018-07-30"),
                ("awarding_unit", "中山大学"),
                ("degree", "理学学士学位"),
                ("discipline", "康复治疗学"),
                ("certificate_no", "1055842018262043"),
            ],
        ),
        (
            DEGREE,
            &[
                ("layout", "degree"),
                ("kind", "degree"),
                ("name", "马睿喆"),
                ("gender", "男"),
                ("birth_date", "1994-09-02"),
                ("degree_date", "2016-07-20"),
                ("awarding_unit", "郑州大学"),
                ("degree", "理学学士学位"),
                ("discipline", "护理学"),
                ("certificate_no", "1045942016926995"),
                ("vcode", "FSKUVT72NN8NEK0J"),
            ],
        ),
    ];
    for (text, want) in cases {
        let p = if *text == MOBILE {
            phone(text)
        } else {
            single(text)
        };
        assert_eq!(flat(&p), expect(want), "{text}");
    }
}

#[test]
fn distractors_are_never_taken_for_fields() {
    let p = single(WEB);
    // 分院 继续教育学院 and 系所 无 sit where a school or major could be.
    assert_eq!(p.fields.school.as_deref(), Some("西安交通大学"));
    assert_eq!(p.fields.major.as_deref(), Some("护理"));
    // The header's phone number is no ID number.
    assert_eq!(
        p.fields.id_number_masked.as_deref(),
        Some("3702**********5189")
    );
    // 更新日期 and 有效期至 dates are no field's date.
    let p = single(REPORT);
    for (_, v) in p.fields.iter() {
        assert!(v != "2014-08-16" && v != "2014-10-15", "{v}");
    }
    // Without the label, the footer's mention of 在线验证码 yields no code.
    let no_label = REPORT.replace("民师    在线验证码 : TOUV3NJREPVXMNR3", "");
    assert_eq!(single(&no_label).fields.vcode, None);
    // A header phone number on its own line is not an ID number.
    let p = single("学信档案\n欢迎您，133****9564 | 退出\n姓名: 王五");
    assert_eq!(p.fields.id_number_masked, None);
}

#[test]
fn a_page_that_is_not_a_chsi_result_has_no_layout() {
    for text in [
        "",
        "增值税专用发票\n购买方 名称: 某某公司\n金额 100.00",
        "姓名: 王五",
        "Lorem ipsum dolor sit amet",
    ] {
        let p = single(text);
        assert_eq!(p, ParsedScreenshot::default(), "{text}");
    }
}

#[test]
fn a_page_without_its_title_is_recognised_by_its_labels() {
    let cropped: String = MOBILE
        .lines()
        .filter(|l| !l.contains("学位信息"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut page = OcrPage::from_text(&cropped);
    page.height = page.width * 2;
    let p = parse_page(&page, Codes::SingleRead);
    assert_eq!(p.layout, Some(Layout::Mobile));
    assert_eq!(p.kind, Some(Kind::Degree));
}

#[test]
fn a_certificate_number_that_contradicts_the_page_is_omitted() {
    // Year 2011 inside the number, graduation in 2010.
    let text = REPORT.replace("140191201006326546", "140191201106326546");
    assert_eq!(single(&text).fields.certificate_no, None);
    // Level 05 (本科) inside, 专科 on the page.
    let text = REPORT.replace("140191201006326546", "140191201005326546");
    assert_eq!(single(&text).fields.certificate_no, None);
    // 学位 level digit 3 (硕士) on a 学士 degree.
    let text = DEGREE.replace("1045942016926995", "1045932016926995");
    assert_eq!(single(&text).fields.certificate_no, None);
}

/// A second reader that answers from a script: what each attempt returns
/// for the 在线验证码 region, and how often it was asked.
struct Scripted {
    answers: Vec<Option<&'static str>>,
    asked: usize,
}

impl Reread for Scripted {
    fn reread(&mut self, _region: Rect, _charset: &str, attempt: u8) -> Option<String> {
        self.asked += 1;
        self.answers
            .get(attempt as usize)
            .copied()
            .flatten()
            .map(str::to_string)
    }
}

#[test]
fn codes_need_two_reads_that_agree() {
    let page = OcrPage::from_text(DEGREE);
    let vcode_with = |answers: Vec<Option<&'static str>>| {
        let mut r = Scripted { answers, asked: 0 };
        // The certificate number is read through the same script; only the
        // code matters here.
        let p = parse_page(&page, Codes::Confirmed(&mut r));
        p.fields.vcode
    };
    let want = Some("FSKUVT72NN8NEK0J".to_string());
    // The second read agrees with the page read.
    assert_eq!(vcode_with(vec![Some("FSKUVT72NN8NEK0J")]), want);
    // It reads S as 5 (both in the alphabet): a third read decides.
    assert_eq!(
        vcode_with(vec![Some("F5KUVT72NN8NEK0J"), Some("FSKU VT72 NN8N EK0J")]),
        want
    );
    // Three different reads: nothing is guessed.
    assert_eq!(
        vcode_with(vec![Some("F5KUVT72NN8NEK0J"), Some("FSKUVT7ZNN8NEK0J")]),
        None
    );
    // No second read at all: the page read alone is not enough.
    assert_eq!(vcode_with(vec![None, None]), None);
}

#[test]
fn disagreeing_reads_leave_ranked_candidates_for_the_service() {
    let page = OcrPage::from_text(DEGREE);
    let parse = |answers: Vec<Option<&'static str>>| {
        let mut r = Scripted { answers, asked: 0 };
        parse_page(&page, Codes::Confirmed(&mut r))
    };
    // Three different reads: no code is emitted, but every read is a
    // candidate, and the mix of what most reads say comes first.
    let p = parse(vec![Some("F5KUVT72NN8NEK0J"), Some("FSKUVT7ZNN8NEK0J")]);
    assert_eq!(p.fields.vcode, None);
    let c = &p.vcode_candidates;
    assert_eq!(
        c.first().map(String::as_str),
        Some("FSKUVT72NN8NEK0J"),
        "{c:?}"
    );
    for read in ["F5KUVT72NN8NEK0J", "FSKUVT7ZNN8NEK0J"] {
        assert!(c.iter().any(|x| x == read), "{read} missing from {c:?}");
    }
    assert!(c.len() <= code_candidates::MAX_CANDIDATES);
    // Agreement settles the code: no guesses are kept.
    let p = parse(vec![Some("FSKUVT72NN8NEK0J")]);
    assert!(p.fields.vcode.is_some() && p.vcode_candidates.is_empty());
    // Only the page read, no second read: it is the first guess.
    let p = parse(vec![None, None]);
    assert_eq!(
        p.vcode_candidates.first().map(String::as_str),
        Some("FSKUVT72NN8NEK0J")
    );
}

#[test]
fn a_misread_page_code_is_recovered_by_two_region_reads() {
    let text = DEGREE.replace("FSKU VT72 NN8N EK0J", "FSKU VT72 NN8N EKOJJ");
    let mut r = Scripted {
        answers: vec![Some("FSKUVT72NN8NEK0J"), Some("FSKUVT72NN8NEK0J")],
        asked: 0,
    };
    let p = parse_page(&OcrPage::from_text(&text), Codes::Confirmed(&mut r));
    assert_eq!(p.fields.vcode.as_deref(), Some("FSKUVT72NN8NEK0J"));
}

/// [`Scripted`] with the worker's readers: attempts 0 and 1 are one model,
/// 2 and 3 another.
struct TwoModels(Scripted);

impl Reread for TwoModels {
    fn reread(&mut self, region: Rect, charset: &str, attempt: u8) -> Option<String> {
        self.0.reread(region, charset, attempt)
    }

    fn reader(&self, attempt: u8) -> u8 {
        1 + attempt / 2
    }
}

#[test]
fn a_read_with_one_stray_character_still_counts() {
    let want = Some("FSKUVT72NN8NEK0J".to_string());
    let settle = |page_code: &str, answers: Vec<Option<&'static str>>| {
        let text = DEGREE.replace("FSKU VT72 NN8N EK0J", page_code);
        let mut r = Scripted { answers, asked: 0 };
        parse_page(&OcrPage::from_text(&text), Codes::Confirmed(&mut r))
            .fields
            .vcode
    };
    // Region reads that doubled a character (2 read as 22) back the page read.
    assert_eq!(
        settle(
            "FSKU VT72 NN8N EK0J",
            vec![Some("FSKUVT722NN8NEK0J"), Some("FSKUVT722NN8NEK0J")]
        ),
        want
    );
    // Region reads split 2–2 over S/5 (the code model twice, the page model
    // twice); the page read, one O too long, breaks the tie.
    let text = DEGREE.replace("FSKU VT72 NN8N EK0J", "FSKU VT72 NN8N EK0OJ");
    let mut r = TwoModels(Scripted {
        answers: vec![
            Some("F5KUVT72NN8NEK0J"),
            Some("F5KUVT72NN8NEK0J"),
            Some("FSKUVT72NN8NEK0J"),
            Some("FSKUVT72NN8NEK0J"),
        ],
        asked: 0,
    });
    let p = parse_page(&OcrPage::from_text(&text), Codes::Confirmed(&mut r));
    assert_eq!(p.fields.vcode, want);
    // Reads that are all too long never make up a code no reader saw.
    assert_eq!(
        settle(
            "FSKU VT72 NN8N EK0OJ",
            vec![Some("FSKUVT722NN8NEK0J"), Some("FSKUVT722NN8NEK0J")]
        ),
        None
    );
    // A near read that becomes either rival backs neither: 2–2 is a tie.
    assert_eq!(
        settle(
            "FSKU VT72 NN8N EK0J",
            vec![Some("F5KUVT72NN8NEK0J"), Some("FS5KUVT72NN8NEK0J")]
        ),
        None
    );
}

#[test]
fn names_keep_their_middle_dot() {
    for written in [
        "阿依古丽.买买提",
        "阿依古丽,买买提",
        "阿依古丽:买买提",
        "阿依古丽·买买提",
    ] {
        let text = WEB.replace("钱晨可", written);
        assert_eq!(
            single(&text).fields.name.as_deref(),
            Some("阿依古丽·买买提"),
            "{written}"
        );
    }
}

#[test]
fn spread_labels_and_separate_cells_are_read() {
    let text = "\
教育部学历证书电子注册备案表
姓          名 :  皇甫飞辉
入    学    日    期 :  2017年09月15日
毕 ( 结 ) 业 日 期 :  2020年07月20日
学    历    类    别 :  成人高等教育
毕   (   结   )   业 :  结业
证    书    编    号 :  100625202005287744
| 层次 |           | 本科 |";
    let p = single(text);
    assert_eq!(
        flat(&p),
        expect(&[
            ("layout", "report"),
            ("kind", "diploma"),
            ("name", "皇甫飞辉"),
            ("enrollment_date", "2017-09-15"),
            ("graduation_date", "2020-07-20"),
            ("category", "成人高等教育"),
            ("completion", "结业"),
            ("certificate_no", "100625202005287744"),
            ("level", "本科"),
        ])
    );
}

#[test]
fn a_closed_vocabulary_value_survives_an_unreadable_label() {
    let text = REPORT
        .replace("层次              专科", "技师 遇 次    专科")
        .replace("毕(结)业         毕业", "毕 结 二    毕业")
        .replace("学习形式        普通全日制", "学刁形术    函授");
    let p = single(&text);
    assert_eq!(p.fields.level.as_deref(), Some("专科"));
    assert_eq!(p.fields.completion.as_deref(), Some("毕业"));
    assert_eq!(p.fields.study_mode.as_deref(), Some("函授"));
    // A school that merely contains 专科 is not a level.
    let text = REPORT
        .replace("层次              专科", "")
        .replace("学校名称        北京卫生职业学院", "北京卫生高等专科学校");
    assert_eq!(single(&text).fields.level, None);
}

#[test]
fn a_degree_pages_major_is_its_discipline() {
    let text = MOBILE.replace("学科/专业", "专业");
    let p = phone(&text);
    assert_eq!(p.fields.discipline.as_deref(), Some("康复治疗学"));
    assert_eq!(p.fields.major, None);
}

proptest! {
    #[test]
    fn the_parser_never_panics(text in "\\PC{0,400}") {
        let _ = single(&text);
    }

    #[test]
    fn the_parser_never_panics_on_label_soup(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("姓名".to_string()), Just("在线验证码".to_string()),
                Just("证书编号".to_string()), Just("：".to_string()),
                Just("毕(结)业日期".to_string()), Just("学信档案".to_string()),
                Just("      ".to_string()), Just("\n".to_string()),
                "[0-9A-Z*年月日·.]{0,20}",
                "\\PC{0,8}",
            ],
            0..60,
        )
    ) {
        let text: String = parts.concat();
        let mut r = |_: Rect, _: &str, _: u8| Some("FSKUVT72NN8NEK0J".to_string());
        let _ = parse_page(&OcrPage::from_text(&text), Codes::Confirmed(&mut r));
    }
}

#[test]
fn only_reports_are_reports() {
    let not_reports = [
        // The 学信档案 index of report kinds: three titles, no fields.
        "学信档案 chsi.com.cn\n在线验证报告\n教育部学籍在线验证报告 查看 申请\n\
         教育部学历证书电子注册备案表 查看 申请\n中国高等教育学位在线验证报告 查看 申请",
        // A page header naming all three.
        "学籍/学历/学位在线验证报告查询\n请输入在线验证码\n查 询",
        // A notes line citing the 学籍 registration, with one stray label.
        "注：以上信息依据教育部学籍电子注册备案数据出具，如有疑问请与学校学籍管理部门联系。\n姓名：王晓雯",
        // A title over hardly any fields: an 图像采集码 card.
        "教育部学历证书电子注册备案表\n图像采集码：4F7K 29QX\n姓名：王晓雯",
    ];
    for text in not_reports {
        let p = single(text);
        assert_eq!(p.layout, None, "{text}");
        assert!(p.fields.vcode.is_none() && p.vcode_candidates.is_empty());
    }
    let enrollment = single(
        "教育部学籍在线验证报告\n姓名：王晓雯 性别：女\n出生日期：2003年04月18日\n\
         院校：郑州大学 层次：本科\n专业：护理学\n学籍状态：在籍（注册学籍）\n在线验证码：A7K2M9QX4TB8R5WZ",
    );
    assert_eq!(enrollment.layout, Some(Layout::Enrollment));
    assert_eq!(enrollment.kind, Some(Kind::Enrollment));
}

#[test]
fn older_labels_name_the_same_fields() {
    // A 2010-era 备案表: other label words, `学 习 形 式` spread out, and
    // the dates of the sheet itself beside the fields.
    let p = single(
        "教育部学历证书电子注册备案表\n制表日期：2010年07月20日  验证期至：2011年01月20日\n\
         姓名：王晓雯  性别：女\n出生日期：1988年04月18日\n入学时间：2006年09月01日  毕业时间：2009年07月01日\n\
         毕业院校：郑州大学\n专业名称：护理学\n学历层次：专科\n学 习 形 式：普通全日制",
    );
    assert_eq!(p.layout, Some(Layout::Report));
    let f = &p.fields;
    assert_eq!(f.enrollment_date.as_deref(), Some("2006-09-01"));
    assert_eq!(f.graduation_date.as_deref(), Some("2009-07-01"));
    assert_eq!(f.school.as_deref(), Some("郑州大学"));
    assert_eq!(f.major.as_deref(), Some("护理学"));
    assert_eq!(f.level.as_deref(), Some("专科"));
    assert_eq!(f.study_mode.as_deref(), Some("普通全日制"));
}

#[test]
fn a_2010_sheet_is_read_with_two_pairs_a_row_and_its_code_over_its_caption() {
    // The caption 在线验证码 stands below the 12-digit code; the line holding
    // the code also holds the sheet's own date at the other edge.
    let p = single(
        "教育部学历证书电子注册备案表\n\
         姓名     周文博                 性别     男\n\
         出生日期     1987年03月12日     入学时间     2006年09月01日\n\
         毕业时间     2010年07月01日     学历类型     普通高等教育\n\
         学历层次     本科               毕业院校     河南中医学院\n\
         院校所在地     河南省郑州市     专业名称     护理学\n\
         学 习 形 式     普通全日制      毕结业结论     毕业\n\
         制表日期：2010年08月20日                    2817 5093 6641\n\
         验证期至：2011年02月20日                      在线验证码",
    );
    assert_eq!(
        flat(&p),
        expect(&[
            ("layout", "report"),
            ("kind", "diploma"),
            ("name", "周文博"),
            ("gender", "男"),
            ("birth_date", "1987-03-12"),
            ("enrollment_date", "2006-09-01"),
            ("graduation_date", "2010-07-01"),
            ("category", "普通高等教育"),
            ("level", "本科"),
            ("school", "河南中医学院"),
            ("major", "护理学"),
            ("study_mode", "普通全日制"),
            ("completion", "毕业"),
            ("vcode", "281750936641"),
        ])
    );
}

#[test]
fn a_caption_takes_only_the_words_above_it() {
    // Words above the caption's line but far to its left are not its value.
    let p = single(
        "教育部学历证书电子注册备案表\n姓名：周文博\n出生日期：1987年03月12日\n毕业院校：河南中医学院\n\
         2817 5093 6641\n\
         制表日期：2010年08月20日                      在线验证码",
    );
    assert_eq!(p.fields.vcode, None);
}

#[test]
fn enrollment_reports_are_read_in_both_forms() {
    // The older table: short labels, two pairs a row.
    let table = single(
        "教育部学籍在线验证报告\n\
         姓名     韩思远               性别     男\n\
         院校     河南中医药大学       层次     本科\n\
         院系     护理学院             班级     护理学本科三班\n\
         专业     护理学               学号     201805213047\n\
         形式     普通全日制           类型     普通高等教育\n\
         学籍状态     在籍 (注册学籍)\n\
         在线验证码：A2QS 7B8D K5ZM 0R1T",
    );
    assert_eq!(
        flat(&table),
        expect(&[
            ("layout", "enrollment"),
            ("kind", "enrollment"),
            ("name", "韩思远"),
            ("gender", "男"),
            ("school", "河南中医药大学"),
            ("level", "本科"),
            ("department", "护理学院"),
            ("class_name", "护理学本科三班"),
            ("major", "护理学"),
            ("student_no", "201805213047"),
            ("study_mode", "普通全日制"),
            ("category", "普通高等教育"),
            ("enrollment_status", "在籍(注册学籍)"),
            ("vcode", "A2QS7B8DK5ZM0R1T"),
        ])
    );
    // The card: empty rows, and the status carrying the expected date.
    let card = single(
        "教育部学籍在线验证报告\n姓名     林雨桐\n院校     郑州大学\n院系\n班级\n学制     2.5 年\n\
         学籍状态     注册学籍（预计毕业日期：2025年01月01日）\n在线验证码 A5SB 8Z2Q D01K 7TQW",
    );
    assert_eq!(
        flat(&card),
        expect(&[
            ("layout", "enrollment"),
            ("kind", "enrollment"),
            ("name", "林雨桐"),
            ("school", "郑州大学"),
            ("duration", "2.5"),
            ("enrollment_status", "注册学籍(预计毕业日期:2025年01月01日)"),
            ("expected_graduation_date", "2025-01-01"),
            ("vcode", "A5SB8Z2QD01K7TQW"),
        ])
    );
}

#[test]
fn a_web_page_stating_a_status_is_a_registration() {
    let p = single(
        "学信档案 chsi.com.cn\n硕士-武汉理工大学-机械工程\n\
         姓名：邓子墨                 学历类别：普通高等教育\n\
         学校名称：武汉理工大学       分院：机电工程学院\n\
         层次：硕士研究生             学号：2021305120\n\
         专业：机械工程               学籍状态：在籍（注册学籍）\n\
         学制：3 年                   预计毕业日期：2024年06月30日",
    );
    assert_eq!(
        flat(&p),
        expect(&[
            ("layout", "web"),
            ("kind", "enrollment"),
            ("name", "邓子墨"),
            ("category", "普通高等教育"),
            ("school", "武汉理工大学"),
            ("level", "硕士研究生"),
            ("student_no", "2021305120"),
            ("major", "机械工程"),
            ("enrollment_status", "在籍(注册学籍)"),
            ("duration", "3"),
            ("expected_graduation_date", "2024-06-30"),
        ])
    );
}

/// The box of characters `from..to` of line `row` in [`OcrPage::from_text`]'s
/// grid.
fn grid_box(row: i32, from: i32, to: i32) -> Rect {
    Rect {
        left: from * 20,
        top: row * 40,
        width: (to - from) * 20,
        height: 20,
    }
}

#[test]
fn a_value_a_redaction_box_covers_or_follows_is_left_out() {
    // 姓名 on line 4, its value from column 17.
    // 尹梓 and a box where 晗 was.
    let half_hidden = REPORT.replace("尹梓晗", "尹梓");
    let mut page = OcrPage::from_text(&half_hidden);
    assert_eq!(
        parse_page(&page, Codes::SingleRead).fields.name.as_deref(),
        Some("尹梓"),
        "without the box what is left is taken for the name"
    );
    page.redactions = vec![grid_box(4, 19, 20)];
    let p = parse_page(&page, Codes::SingleRead);
    assert_eq!(p.fields.name, None, "尹梓 followed by a box is no name");
    assert!(!p.confidence.contains_key(&Field::name));
    // The rest of the page stands.
    assert_eq!(p.fields.school.as_deref(), Some("北京卫生职业学院"));
    assert_eq!(p.layout, Some(Layout::Report));

    // A box over part of a whole-looking value.
    let mut page = OcrPage::from_text(REPORT);
    page.redactions = vec![grid_box(4, 18, 19)];
    assert_eq!(parse_page(&page, Codes::SingleRead).fields.name, None);

    // Boxes elsewhere, or too small to hide a character, hide nothing.
    let mut page = OcrPage::from_text(REPORT);
    page.redactions = vec![
        grid_box(9, 30, 32),
        Rect {
            height: 4,
            ..grid_box(4, 20, 22)
        },
    ];
    assert_eq!(
        parse_page(&page, Codes::SingleRead).fields.name.as_deref(),
        Some("尹梓晗")
    );
}

#[test]
fn each_value_carries_its_confidence_and_doubtful_ones_can_be_left_out() {
    let mut p = single(REPORT);
    // `from_text` words are read with confidence 95.
    for (f, _) in p.fields.iter() {
        assert_eq!(p.confidence.get(&f), Some(&95), "{f}");
    }
    assert_eq!(p.confidence.len(), p.fields.iter().count());
    let floors = |names, values| ConfidenceFloors { names, values };
    assert!(p.drop_doubtful(floors(95, 95)).is_empty());
    // Names have a floor of their own.
    assert_eq!(
        p.drop_doubtful(floors(96, 0)),
        vec![Field::name, Field::principal]
    );
    assert_eq!(p.fields.name, None);
    assert!(p.fields.school.is_some());
    let dropped = p.drop_doubtful(floors(0, 96));
    assert!(dropped.contains(&Field::school) && dropped.contains(&Field::major));
    assert_eq!(p.fields.school, None);
    // Codes are settled by agreeing reads, not by one read's confidence.
    assert!(p.fields.vcode.is_some() && p.fields.certificate_no.is_some());
    assert_eq!(
        p.fields.iter().map(|(f, _)| f).collect::<Vec<_>>(),
        p.confidence.keys().copied().collect::<Vec<_>>()
    );
}

//! Why a record was decided the way it was: a closed set of codes, each with a
//! stable identifier for machines and a Chinese message a candidate can act on.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::fields::Field;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    // Rejections.
    VcodeUnreadable,
    VcodeInvalid,
    ReportExpired,
    ReportClosed,
    HolderMismatch,
    FieldMismatch,
    KindMismatch,
    DuplicateCertificate,
    ImageUnreadable,
    NotAChsiResult,
    Revoked,
    EnrollmentReport,
    // Sent to a human.
    NameNearMatch,
    ReportIncomplete,
    ReportInconsistent,
    ScreenshotMismatch,
    VcodeUncertain,
    PageUnrecognised,
    // Warnings: recorded, not decisive.
    OcrSlip,
    ScreenshotNameDiffers,
}

/// What a reason does to the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Review,
    Reject,
}

impl ReasonCode {
    pub const ALL: &'static [ReasonCode] = &[
        ReasonCode::VcodeUnreadable,
        ReasonCode::VcodeInvalid,
        ReasonCode::ReportExpired,
        ReasonCode::ReportClosed,
        ReasonCode::HolderMismatch,
        ReasonCode::FieldMismatch,
        ReasonCode::KindMismatch,
        ReasonCode::DuplicateCertificate,
        ReasonCode::ImageUnreadable,
        ReasonCode::NotAChsiResult,
        ReasonCode::Revoked,
        ReasonCode::EnrollmentReport,
        ReasonCode::NameNearMatch,
        ReasonCode::ReportIncomplete,
        ReasonCode::ReportInconsistent,
        ReasonCode::ScreenshotMismatch,
        ReasonCode::VcodeUncertain,
        ReasonCode::PageUnrecognised,
        ReasonCode::OcrSlip,
        ReasonCode::ScreenshotNameDiffers,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::VcodeUnreadable => "vcode_unreadable",
            ReasonCode::VcodeInvalid => "vcode_invalid",
            ReasonCode::ReportExpired => "report_expired",
            ReasonCode::ReportClosed => "report_closed",
            ReasonCode::HolderMismatch => "holder_mismatch",
            ReasonCode::FieldMismatch => "field_mismatch",
            ReasonCode::KindMismatch => "kind_mismatch",
            ReasonCode::DuplicateCertificate => "duplicate_certificate",
            ReasonCode::ImageUnreadable => "image_unreadable",
            ReasonCode::NotAChsiResult => "not_a_chsi_result",
            ReasonCode::Revoked => "revoked",
            ReasonCode::EnrollmentReport => "enrollment_report",
            ReasonCode::NameNearMatch => "name_near_match",
            ReasonCode::ReportIncomplete => "report_incomplete",
            ReasonCode::ReportInconsistent => "report_inconsistent",
            ReasonCode::ScreenshotMismatch => "screenshot_mismatch",
            ReasonCode::VcodeUncertain => "vcode_uncertain",
            ReasonCode::PageUnrecognised => "page_unrecognised",
            ReasonCode::OcrSlip => "ocr_slip",
            ReasonCode::ScreenshotNameDiffers => "screenshot_name_differs",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    pub fn severity(self) -> Severity {
        use ReasonCode::*;
        match self {
            NameNearMatch | ReportIncomplete | ReportInconsistent | ScreenshotMismatch
            | VcodeUncertain | PageUnrecognised => Severity::Review,
            OcrSlip | ScreenshotNameDiffers => Severity::Warning,
            _ => Severity::Reject,
        }
    }

    /// The message shown to the candidate: what happened and what to do.
    pub fn message_zh(self) -> &'static str {
        use ReasonCode::*;
        match self {
            VcodeUnreadable => {
                "未能读取在线验证码。请上传学信网《教育部学历证书电子注册备案表》或《学位在线验证报告》的完整截图，或在记录中手动填写在线验证码。"
            }
            VcodeInvalid => {
                "在线验证码无效。请核对验证码是否填写正确，或登录学信网重新生成在线验证报告后新增记录。"
            }
            ReportExpired => {
                "在线验证报告已过期。请登录学信网延长报告有效期或重新生成报告后，新增记录提交新的验证码。"
            }
            ReportClosed => {
                "在线验证报告已被关闭。请登录学信网重新开启或生成报告后，新增记录提交新的验证码。"
            }
            HolderMismatch => {
                "学信网报告持有人与报名人信息不一致。请确认提交的是本人的报告，且报名姓名、证件号码填写正确。"
            }
            FieldMismatch => "所填信息与学信网报告不一致。请核对以下项目后新增一条正确的记录。",
            KindMismatch => {
                "报告类型与记录类型不符（学历/学位）。请提交与记录类型相符的在线验证报告。"
            }
            DuplicateCertificate => "该证书已被其他考生核验使用。如有疑问请联系考试机构。",
            ImageUnreadable => {
                "截图无法识别：文件损坏、格式不支持或尺寸过大。请上传清晰的 PNG 或 JPEG 截图。"
            }
            NotAChsiResult => {
                "上传的图片不是学信网查询结果。请上传学信网在线验证报告或学信档案页面的截图。"
            }
            Revoked => "该记录的核验结果已被考试机构撤销。",
            EnrollmentReport => {
                "您提交的是《教育部学籍在线验证报告》（学籍），不能证明学历或学位。请登录学信网生成《教育部学历证书电子注册备案表》（学历）或《学位在线验证报告》（学位）后，新增记录提交其在线验证码或截图。"
            }
            NameNearMatch => "报告姓名与报名姓名相差一个字，已转人工复核，请耐心等待。",
            ReportIncomplete => "学信网报告内容不完整，已转人工复核，请耐心等待。",
            ReportInconsistent => {
                "学信网报告中的证书编号与其他信息不符，已转人工复核，请耐心等待。"
            }
            ScreenshotMismatch => {
                "截图中识别出的部分信息与学信网报告不一致（可能是截图不清晰），已转人工复核，请耐心等待。"
            }
            VcodeUncertain => "截图中的在线验证码未能确认，已转人工复核，请耐心等待。",
            PageUnrecognised => "学信网返回的页面暂时无法自动识别，已转人工复核，请耐心等待。",
            OcrSlip => "截图中个别文字识别有误，已以学信网报告为准。",
            ScreenshotNameDiffers => "截图中识别的姓名与报告不同，已以学信网报告为准。",
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason attached to a verdict or an admin decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub code: ReasonCode,
    /// The candidate-facing message, rendered when the reason is made so that
    /// stored events keep the words the candidate saw.
    pub message: String,
    /// Which fields or facts, for the candidate and the admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
}

impl Reason {
    pub fn new(code: ReasonCode) -> Self {
        Self {
            code,
            message: code.message_zh().to_string(),
            detail: None,
            fields: Vec::new(),
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_fields(mut self, fields: Vec<Field>) -> Self {
        if !fields.is_empty() {
            let labels: Vec<&str> = fields.iter().map(|f| f.label()).collect();
            self.message = format!("{}（{}）", self.message, labels.join("、"));
        }
        self.fields = fields;
        self
    }

    pub fn severity(&self) -> Severity {
        self.code.severity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_serialise_as_their_string() {
        for c in ReasonCode::ALL {
            assert_eq!(ReasonCode::parse(c.as_str()), Some(*c));
            assert_eq!(
                serde_json::to_string(c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
            assert!(!c.message_zh().is_empty());
        }
    }

    #[test]
    fn field_mismatch_message_names_the_fields() {
        let r =
            Reason::new(ReasonCode::FieldMismatch).with_fields(vec![Field::school, Field::major]);
        assert!(r.message.contains("学校名称"), "{}", r.message);
        assert!(r.message.contains("专业"));
    }
}

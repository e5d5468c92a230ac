//! Pairing routes: the QR code to scan and the pairing code to type, both
//! behind the feature matrix like every other engine operation.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    dispatch::gate_pairing,
    engines::Operation,
    http::{
        AppState,
        contact_id::parse_phone,
        errors::{ApiError, BodyErrors, EngineRouteErrors},
        extract::{ApiJson, ApiPath, Params},
    },
};

const TAG: &str = "🔑 Auth";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(qr))
        .routes(routes!(request_code))
}

/// The values of the QR route's `format`, and whether each asks for the
/// raw value (`image` is a PNG).
pub(in crate::http) const QR_FORMATS: [(&str, bool); 2] = [("image", false), ("raw", true)];

/// The text inside the QR code.
#[derive(Serialize, ToSchema)]
struct QrValue {
    #[schema(example = "2@Aq7bY…,kL9x…,…")]
    value: String,
}

/// The QR code as a base64 PNG, for clients that take only JSON.
#[derive(Serialize, ToSchema)]
struct QrImage {
    #[schema(example = "image/png")]
    mimetype: &'static str,
    /// The PNG, base64-encoded.
    #[schema(example = "iVBORw0KGgoAAAANSUhEUgAA…")]
    data: String,
}

/// The QR code as JSON: `{value}` with `format=raw`, otherwise the image as
/// `{mimetype, data}`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum QrJson {
    Value(QrValue),
    Image(QrImage),
}

/// Pixels per QR module, and modules of white border the standard asks for.
const MODULE_PIXELS: usize = 8;
const QUIET_ZONE: usize = 4;

/// Get the QR code to pair
///
/// While the session is SCAN_QR_CODE: the QR code to scan with WhatsApp on
/// the phone, as a PNG image, or with `format=raw` as `{value}`. A client
/// that prefers `Accept: application/json` gets the image as
/// `{mimetype, data}` (base64), as WAHA answers.
#[utoipa::path(
    get,
    path = "/api/{session}/auth/qr",
    tag = TAG,
    operation_id = "auth_qr",
    params(
        ("session" = String, Path, description = "Session name", example = "default"),
        ("format" = Option<String>, Query, description = "`image` (PNG, the default) or `raw`", example = "raw"),
    ),
    responses(
        (status = 200, description = "The QR code", content(
            (QrJson = "application/json"),
            (Vec<u8> = "image/png"),
        )),
        EngineRouteErrors,
    ),
)]
async fn qr(
    State(state): State<AppState>,
    ApiPath(session): ApiPath<String>,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let raw = params.choice("format", &QR_FORMATS)?.unwrap_or(false);
    let target = gate_pairing(&state.sessions, &session, Operation::AuthQr)?;
    let value = target.run().state().qr().ok_or_else(|| {
        ApiError::not_ready(
            &session,
            "the engine has not sent a QR code yet; try again shortly",
        )
    })?;
    if raw {
        return Ok(Json(QrJson::Value(QrValue { value })).into_response());
    }
    let png = render_png(&value)?;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .unwrap_or("*/*");
    if prefers_json_to_png(accept) {
        return Ok(Json(QrJson::Image(QrImage {
            mimetype: "image/png",
            data: base64::engine::general_purpose::STANDARD.encode(png),
        }))
        .into_response());
    }
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// Whether an `Accept` header ranks `application/json` above `image/png`
/// (by q-value, a specific type over a wildcard). Ties, and headers that
/// mention neither, go to the image.
fn prefers_json_to_png(accept: &str) -> bool {
    // The q-value and specificity (2 exact, 1 `type/*`, 0 `*/*`) of the
    // range that best matches `wanted`.
    let rank = |wanted: &str| {
        let (kind, _) = wanted.split_once('/').unwrap_or((wanted, ""));
        accept
            .split(',')
            .filter_map(|range| {
                let mut parts = range.split(';').map(str::trim);
                let media = parts.next()?.to_ascii_lowercase();
                let q = parts
                    .filter_map(|param| param.strip_prefix("q="))
                    .find_map(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                let specificity = if media == wanted {
                    2
                } else if media == format!("{kind}/*") {
                    1
                } else if media == "*/*" {
                    0
                } else {
                    return None;
                };
                Some((specificity, q))
            })
            .max_by_key(|&(specificity, _)| specificity)
            .map_or(0.0, |(_, q)| q)
    };
    rank("application/json") > rank("image/png")
}

/// Renders `value` as a black-on-white QR code PNG.
fn render_png(value: &str) -> Result<Vec<u8>, ApiError> {
    let code = qrcode::QrCode::new(value.as_bytes())
        .map_err(|err| ApiError::internal(format!("cannot encode the QR code: {err}")))?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET_ZONE) * MODULE_PIXELS;
    let mut pixels = vec![255u8; side * side];
    for (index, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (x, y) = (index % modules + QUIET_ZONE, index / modules + QUIET_ZONE);
        for row in y * MODULE_PIXELS..(y + 1) * MODULE_PIXELS {
            pixels[row * side + x * MODULE_PIXELS..row * side + (x + 1) * MODULE_PIXELS].fill(0);
        }
    }
    let side = u32::try_from(side).map_err(|_| ApiError::internal("the QR code is too large"))?;
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(&pixels))
        .map_err(|err| ApiError::internal(format!("cannot write the QR code PNG: {err}")))?;
    Ok(png)
}

/// Body of `POST /api/{session}/auth/request-code`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct CodeRequest {
    /// The phone number of the account to pair, with country code.
    #[schema(example = "12132132130")]
    phone_number: String,
}

/// A pairing code to type on the phone.
#[derive(Serialize, ToSchema)]
struct PairingCode {
    #[schema(example = "ABCD-ABCD")]
    code: String,
}

/// Request a pairing code
///
/// While the session is SCAN_QR_CODE: a code to type in WhatsApp on the
/// phone (Linked devices → Link with phone number) instead of scanning.
#[utoipa::path(
    post,
    path = "/api/{session}/auth/request-code",
    tag = TAG,
    operation_id = "auth_request_code",
    params(("session" = String, Path, description = "Session name", example = "default")),
    request_body = CodeRequest,
    responses((status = 200, description = "The code", body = PairingCode), EngineRouteErrors, BodyErrors),
)]
async fn request_code(
    State(state): State<AppState>,
    ApiPath(session): ApiPath<String>,
    ApiJson(request): ApiJson<CodeRequest>,
) -> Result<Json<PairingCode>, ApiError> {
    let phone = parse_phone("phoneNumber", &request.phone_number)?;
    let target = gate_pairing(&state.sessions, &session, Operation::AuthCode)?;
    let code = target
        .call(|s| s.request_pairing_code(phone.into()))
        .await?;
    Ok(Json(PairingCode {
        code: code.into_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_png_is_a_square_black_and_white_image() {
        let png = render_png("2@wharf-test-value").unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!(info.width, info.height);
        assert_eq!(info.width as usize % MODULE_PIXELS, 0);
        assert!(pixels.iter().all(|&p| p == 0 || p == 255));
        assert!(pixels.contains(&0), "some modules are dark");
        assert_eq!(pixels[0], 255, "the quiet zone is white");
    }

    #[test]
    fn json_clients_get_the_image_as_base64_and_everyone_else_the_png() {
        for json in [
            "application/json",
            "application/json; charset=utf-8",
            "application/json, */*;q=0.8",
            "image/png;q=0.5, application/json",
            "application/*",
        ] {
            assert!(prefers_json_to_png(json), "{json}");
        }
        for png in [
            "*/*",
            "",
            "image/png",
            "image/*",
            "text/html",
            "application/json, image/png",
            "application/json;q=0.4, image/*;q=0.5",
            "application/json;q=0",
        ] {
            assert!(!prefers_json_to_png(png), "{png}");
        }
    }
}

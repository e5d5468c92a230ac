//! Pairing routes: the QR code to scan and the pairing code to type, both
//! behind the feature matrix like every other engine operation.

use axum::{
    Json, Router,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;
use wharf_engine_api::features;

use super::{
    AppState,
    extract::{ApiJson, ApiPath, Params},
};
use crate::{contact_id::parse_phone, dispatch::gate_pairing, errors::ApiError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/{session}/auth/qr", get(qr))
        .route("/api/{session}/auth/request-code", post(request_code))
}

/// Pixels per QR module, and modules of white border the standard asks for.
const MODULE_PIXELS: usize = 8;
const QUIET_ZONE: usize = 4;

/// The QR code as a PNG image, or `?format=raw` as `{value}`.
async fn qr(
    State(state): State<AppState>,
    ApiPath(session): ApiPath<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let raw = params
        .choice("format", &[("image", false), ("raw", true)])?
        .unwrap_or(false);
    let target = gate_pairing(&state.sessions, &session, features::AUTH_QR)?;
    let value = target.run().state().qr().ok_or_else(|| {
        ApiError::not_ready(
            &session,
            "the engine has not sent a QR code yet; try again shortly",
        )
    })?;
    if raw {
        return Ok(Json(json!({ "value": value })).into_response());
    }
    let png = render_png(&value)?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
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
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CodeRequest {
    phone_number: String,
}

async fn request_code(
    State(state): State<AppState>,
    ApiPath(session): ApiPath<String>,
    ApiJson(request): ApiJson<CodeRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let phone = parse_phone("phoneNumber", &request.phone_number)?;
    let target = gate_pairing(&state.sessions, &session, features::AUTH_CODE)?;
    let code = target
        .call(|s| s.request_pairing_code(phone.into()))
        .await?;
    Ok(Json(json!({ "code": code.into_string() })))
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
}

//! Files and images over real HTTP and WebSocket (issue 25): uploading, posting, reading as a
//! member and not as anyone else, the attacks (HTML, SVG with script, a PNG claiming to be a
//! JPEG, a pixel bomb, a JPEG with GPS EXIF and bytes after its end, guessed ids, a quota
//! overrun), removal reaching open sockets, expiry, and one S3-compatible store shared by two
//! nodes (upload on one, download on the other). Every test but the S3 one runs on SQLite, and
//! again on PostgreSQL (`CHATTERBOX_TEST_DATABASE=postgres`).

use crate::common::cluster::{until, Cluster};
use crate::common::endpoint::Endpoint;
use crate::common::{Client, TestApp};
use image::{DynamicImage, ImageFormat};
use serde_json::{json, Value};
use std::io::Cursor;
use std::time::Duration;

/// `POST /uploads` of `bytes` named `name`, claimed to be `mime`: the status and body.
async fn upload(app: &Endpoint, token: &str, name: &str, mime: &str, bytes: Vec<u8>) -> (u16, Value) {
    let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()).mime_str(mime).unwrap();
    let form = reqwest::multipart::Form::new().text("note", "ignored").part("file", part);
    let response = app.http.post(app.url("/uploads")).bearer_auth(token).multipart(form).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// An upload that must succeed: its attachment.
async fn uploaded(app: &Endpoint, token: &str, name: &str, mime: &str, bytes: Vec<u8>) -> Value {
    let (status, body) = upload(app, token, name, mime, bytes).await;
    assert_eq!(status, 201, "{body}");
    body
}

/// `GET path` as `token` with `headers`: the response.
async fn fetch(app: &Endpoint, token: &str, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.http.get(app.url(path)).bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    }));
    let mut out = Vec::new();
    image.write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
    out
}

/// A JPEG carrying an EXIF segment with GPS coordinates, and a secret after its end.
fn jpeg_with_gps_and_a_tail() -> Vec<u8> {
    let mut plain = Vec::new();
    DynamicImage::new_rgb8(64, 48).write_to(&mut Cursor::new(&mut plain), ImageFormat::Jpeg).unwrap();
    // APP1 "Exif": a little-endian TIFF with one IFD entry, GPSInfo (0x8825), and a marker.
    let mut tiff = b"II*\0\x08\0\0\0\x01\0\x25\x88\x04\0\x01\0\0\0\x1a\0\0\0\0\0\0\0".to_vec();
    tiff.extend_from_slice(b"GPS-48.8584N-2.2945E");
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let length = (app1.len() + 2) as u16;
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&plain[2..]);
    out.extend_from_slice(b"TRAILING-SECRET-PIXELS");
    out
}

/// A PNG whose (checksummed) header claims 9,000 x 9,000 pixels: 81 megapixels.
fn pixel_bomb() -> Vec<u8> {
    let mut data = png(1, 1);
    data[16..20].copy_from_slice(&9_000u32.to_be_bytes());
    data[20..24].copy_from_slice(&9_000u32.to_be_bytes());
    let mut crc = !0u32;
    for &byte in &data[12..29] {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    data[29..33].copy_from_slice(&(!crc).to_be_bytes());
    data
}

/// Posts `attachments` (and `content`) in `room`: the acknowledgement or the error frame.
async fn post_files(client: &mut Client, room: i64, content: &str, ids: &[&Value], client_id: &str) -> Value {
    let ids: Vec<&Value> = ids.iter().map(|a| &a["id"]).collect();
    let frame =
        json!({"type": "message", "content": content, "client_id": client_id, "room_id": room, "attachments": ids});
    client.send_json(&frame).await;
    until(client, |f| f["client_id"] == client_id && (f["type"] == "message" || f["type"] == "error")).await
}

#[tokio::test]
async fn an_image_is_posted_and_read_by_members_only() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let room = app.private_room(&alice, "den", &["bob"]).await;
    let image = uploaded(&app, &alice, "../../holiday photo.png", "image/png", png(1200, 600)).await;
    assert_eq!(image["name"], "holiday photo.png");
    assert_eq!(image["content_type"], "image/png");
    assert_eq!((image["width"].as_u64(), image["height"].as_u64()), (Some(1200), Some(600)));
    let id = image["id"].as_str().unwrap().to_owned();
    assert_eq!(image["url"], format!("/files/{id}/holiday%20photo.png"));
    assert_eq!(image["thumbnail_url"], format!("/files/{id}/thumbnail"));
    let url = image["url"].as_str().unwrap().to_owned();

    // Before it is posted, only its uploader reads it.
    assert_eq!(fetch(&app, &alice, &url, &[]).await.status(), 200);
    assert_eq!(fetch(&app, &bob, &url, &[]).await.status(), 404);

    let (mut alice_ws, _) = app.connect(&alice).await;
    let (mut bob_ws, _) = app.connect(&bob).await;
    let ack = post_files(&mut alice_ws, room, "", &[&image], "f1").await;
    assert_eq!(ack["type"], "message", "{ack}");
    assert_eq!(ack["content"], "");
    assert_eq!(ack["attachments"][0]["id"], id.as_str());
    let seen = until(&mut bob_ws, |f| f["type"] == "message" && f["client_id"] == "f1").await;
    assert_eq!(seen["attachments"], ack["attachments"]);
    let message_id = ack["id"].as_i64().unwrap();

    // A member reads it, inline, with the headers that keep it inert.
    let response = fetch(&app, &bob, &url, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "image/png");
    assert!(header(&response, "content-disposition").starts_with("inline; filename=\"holiday photo.png\""));
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert_eq!(header(&response, "referrer-policy"), "no-referrer");
    assert_eq!(header(&response, "content-security-policy"), "sandbox; default-src 'none'");
    assert!(header(&response, "cache-control").starts_with("private"));
    let etag = header(&response, "etag");
    let full = response.bytes().await.unwrap();
    assert_eq!(full.len() as u64, image["size"].as_u64().unwrap());
    let decoded = image::load_from_memory(&full).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (1200, 600));
    let thumbnail = fetch(&app, &bob, &format!("/files/{id}/thumbnail"), &[]).await;
    assert_eq!(thumbnail.status(), 200);
    let thumbnail = image::load_from_memory(&thumbnail.bytes().await.unwrap()).unwrap();
    assert_eq!((thumbnail.width(), thumbnail.height()), (400, 200));
    let part = fetch(&app, &bob, &url, &[("range", "bytes=10-19")]).await;
    assert_eq!(part.status(), 206);
    assert_eq!(header(&part, "content-range"), format!("bytes 10-19/{}", full.len()));
    assert_eq!(part.bytes().await.unwrap(), full.slice(10..20));
    assert_eq!(fetch(&app, &bob, &url, &[("range", "bytes=99999999-")]).await.status(), 416);
    assert_eq!(fetch(&app, &bob, &url, &[("if-none-match", &etag)]).await.status(), 304);

    // Anyone else: exactly as for an id that does not exist.
    let outsider = fetch(&app, &carol, &url, &[]).await;
    let unknown = fetch(&app, &carol, &format!("/files/{}/x.png", "0".repeat(32)), &[]).await;
    assert_eq!((outsider.status().as_u16(), unknown.status().as_u16()), (404, 404));
    assert_eq!(outsider.text().await.unwrap(), unknown.text().await.unwrap());
    assert_eq!(fetch(&app, &carol, &format!("/files/{id}/thumbnail"), &[]).await.status(), 404);
    assert_eq!(fetch(&app, &carol, "/files/..%2F..%2Fetc/passwd", &[]).await.status(), 404);

    // History carries it; it cannot be posted twice, nor by someone else.
    let (_, page) = app.get_json(&format!("/rooms/{room}/messages"), Some(&bob)).await;
    let stored = page.as_array().unwrap().iter().find(|m| m["id"] == message_id).unwrap().clone();
    assert_eq!(stored["attachments"], ack["attachments"]);
    let again = post_files(&mut alice_ws, room, "again", &[&image], "f2").await;
    assert_eq!(again["type"], "error", "{again}");
    let other = uploaded(&app, &alice, "notes.txt", "text/plain", b"just text".to_vec()).await;
    let (mut carol_ws, _) = app.connect(&carol).await;
    let stolen = post_files(&mut carol_ws, 1, "mine now", &[&other], "c1").await;
    assert_eq!(stolen["type"], "error", "{stolen}");
    let too_many = post_files(&mut alice_ws, room, "", &[&other; 11], "f3").await;
    assert_eq!(too_many["type"], "error", "{too_many}");

    // The admins' CSV names it.
    let csv = app.http.get(app.url("/admin/download/messages")).bearer_auth(&admin).send().await.unwrap();
    assert!(csv.text().await.unwrap().contains(&format!("holiday photo.png ({url})")));
}

#[tokio::test]
async fn the_bytes_decide_the_type_and_images_lose_their_metadata() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;

    let html =
        uploaded(&app, &alice, "page.html", "text/html", b"<!DOCTYPE html><script>alert(1)</script>".to_vec()).await;
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>"#;
    let svg = uploaded(&app, &alice, "cat.png", "image/png", svg.to_vec()).await;
    for file in [&html, &svg] {
        assert_eq!(file["content_type"], "application/octet-stream", "{file}");
        assert!(file.get("thumbnail_url").is_none(), "{file}");
        let response = fetch(&app, &alice, file["url"].as_str().unwrap(), &[]).await;
        assert_eq!(header(&response, "content-type"), "application/octet-stream");
        assert!(header(&response, "content-disposition").starts_with("attachment;"));
        assert_eq!(header(&response, "content-security-policy"), "sandbox; default-src 'none'");
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        let thumbnail = format!("/files/{}/thumbnail", file["id"].as_str().unwrap());
        assert_eq!(fetch(&app, &alice, &thumbnail, &[]).await.status(), 404);
    }

    // A PNG named and claimed a JPEG is a PNG.
    let disguised = uploaded(&app, &alice, "photo.jpg", "image/jpeg", png(20, 10)).await;
    assert_eq!(disguised["content_type"], "image/png");

    // GPS EXIF and bytes after the end do not survive.
    let original = jpeg_with_gps_and_a_tail();
    assert!(original.windows(3).any(|w| w == b"GPS"));
    let photo = uploaded(&app, &alice, "beach.jpeg", "image/jpeg", original).await;
    assert_eq!(photo["content_type"], "image/jpeg");
    let served = fetch(&app, &alice, photo["url"].as_str().unwrap(), &[]).await.bytes().await.unwrap();
    assert!(!served.windows(4).any(|w| w == b"Exif"), "EXIF was kept");
    assert!(!served.windows(3).any(|w| w == b"GPS"), "GPS was kept");
    assert!(!served.windows(8).any(|w| w == b"TRAILING"), "bytes after the image's end were kept");
    assert_eq!(&served[served.len() - 2..], &[0xFF, 0xD9], "the file ends where the image ends");

    // A pixel bomb is refused before it is decoded; so is an image that does not decode.
    let (status, body) = upload(&app, &alice, "bomb.png", "image/png", pixel_bomb()).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("too large"), "{body}");
    let (status, body) = upload(&app, &alice, "broken.jpg", "image/jpeg", b"\xff\xd8\xff\xe0broken".to_vec()).await;
    assert_eq!(status, 422, "{body}");

    // No file, an empty one, or a name the word filter refuses.
    let form = reqwest::multipart::Form::new().text("other", "x");
    let response = app.http.post(app.url("/uploads")).bearer_auth(&alice).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(upload(&app, &alice, "empty.txt", "text/plain", Vec::new()).await.0, 400);
    let (status, body) = upload(&app, &alice, "fuck.txt", "text/plain", b"x".to_vec()).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn sizes_quotas_and_throttles_bound_uploads() {
    let app = TestApp::spawn_with(|config| {
        config.files.upload_max_bytes = 100_000;
        config.files.upload_quota_bytes = 150_000;
        config.files.uploads_burst = 4;
        config.files.uploads_per_sec = 0.01;
    })
    .await;
    let alice = app.user("alice").await;
    let (status, body) = upload(&app, &alice, "big.bin", "application/zip", vec![7; 120_000]).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("larger than"), "{body}");
    let first = uploaded(&app, &alice, "a.bin", "application/zip", vec![1; 90_000]).await;
    let (status, body) = upload(&app, &alice, "b.bin", "application/zip", vec![2; 90_000]).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("quota"), "{body}");
    // Deleting an upload frees its bytes.
    let path = format!("/uploads/{}", first["id"].as_str().unwrap());
    assert_eq!(app.delete_as(&path, Some(&alice)).await.0, 204);
    assert_eq!(fetch(&app, &alice, first["url"].as_str().unwrap(), &[]).await.status(), 404);
    assert_eq!(app.delete_as(&path, Some(&alice)).await.0, 404);
    uploaded(&app, &alice, "b.bin", "application/zip", vec![2; 90_000]).await;
    // Every attempt draws on the budget, refused ones too: that was the fourth; a fifth waits.
    let (status, _) = upload(&app, &alice, "c.bin", "application/zip", vec![3; 10]).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn removal_and_deletion_take_files_away_everywhere() {
    let app = TestApp::spawn_with(|config| config.files.files_sweep_secs = 1).await;
    let admin = app.user("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let room = app.private_room(&alice, "den", &["bob"]).await;
    let (mut alice_ws, _) = app.connect(&alice).await;
    let (mut bob_ws, _) = app.connect(&bob).await;
    let kept = uploaded(&app, &alice, "kept.txt", "text/plain", b"kept".to_vec()).await;
    let doomed = uploaded(&app, &alice, "doomed.png", "image/png", png(10, 10)).await;
    let ack = post_files(&mut alice_ws, room, "two files", &[&kept, &doomed], "r1").await;
    assert_eq!(ack["attachments"].as_array().unwrap().len(), 2, "{ack}");
    until(&mut bob_ws, |f| f["client_id"] == "r1").await;
    let doomed_path = format!("/uploads/{}", doomed["id"].as_str().unwrap());

    // Posted: its uploader cannot take it back alone; an admin removes it for everyone.
    assert_eq!(app.delete_as(&doomed_path, Some(&alice)).await.0, 403);
    assert_eq!(app.delete_as(&doomed_path, Some(&bob)).await.0, 404);
    assert_eq!(app.delete_as(&doomed_path, Some(&admin)).await.0, 204);
    let edited = until(&mut bob_ws, |f| f["type"] == "edited").await;
    assert_eq!(edited["message"]["id"], ack["id"]);
    let left: Vec<&Value> = edited["message"]["attachments"].as_array().unwrap().iter().collect();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["id"], kept["id"]);
    assert_eq!(fetch(&app, &bob, doomed["url"].as_str().unwrap(), &[]).await.status(), 404);
    assert_eq!(fetch(&app, &admin, doomed["url"].as_str().unwrap(), &[]).await.status(), 404);
    let (_, overview) = app.get_json("/admin/uploads", Some(&admin)).await;
    assert_eq!(overview["users"][0]["username"], "alice", "{overview}");
    assert_eq!(overview["users"][0]["count"], 1, "{overview}");
    assert_eq!(app.get_json("/admin/uploads", Some(&bob)).await.0, 403);

    // Deleting the message takes its files with it.
    let message = ack["id"].as_i64().unwrap();
    assert_eq!(app.delete_as(&format!("/messages/{message}"), Some(&alice)).await.0, 204);
    assert_eq!(fetch(&app, &bob, kept["url"].as_str().unwrap(), &[]).await.status(), 404);
    assert_eq!(fetch(&app, &alice, kept["url"].as_str().unwrap(), &[]).await.status(), 404);
    // ... and the sweep deletes them.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, overview) = app.get_json("/admin/uploads", Some(&admin)).await;
        if overview["users"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the files of a deleted message were never swept: {overview}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_upload_never_posted_expires() {
    let app = TestApp::spawn_with(|config| {
        config.files.unposted_upload_ttl_secs = 1;
        config.files.files_sweep_secs = 1;
    })
    .await;
    let alice = app.user("alice").await;
    let file = uploaded(&app, &alice, "later.txt", "text/plain", b"later".to_vec()).await;
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert_eq!(fetch(&app, &alice, file["url"].as_str().unwrap(), &[]).await.status(), 404);
    let (mut alice_ws, _) = app.connect(&alice).await;
    let late = post_files(&mut alice_ws, 1, "", &[&file], "e1").await;
    assert_eq!(late["type"], "error", "{late}");
}

#[tokio::test]
async fn two_nodes_share_one_s3_store() {
    if crate::common::on_postgres() {
        // Runs once, in the SQLite pass: its nodes are on PostgreSQL either way.
        return;
    }
    let cluster = Cluster::new().await;
    let s3 = tokio::task::spawn_blocking(testkit::S3Server::start).await.unwrap();
    let env = [
        ("CHATTERBOX_FILES_URL", format!("s3://{}/chat", s3.bucket())),
        ("CHATTERBOX_FILES_SHARED", "false".to_string()),
        ("AWS_ENDPOINT_URL", s3.endpoint()),
        ("AWS_REGION", s3.region().to_string()),
        ("AWS_ACCESS_KEY_ID", s3.access_key().to_string()),
        ("AWS_SECRET_ACCESS_KEY", s3.secret_key().to_string()),
    ];
    let a = cluster.node_with(&env).await;
    let b = cluster.node_with(&env).await;
    a.register("root").await;
    let admin = a.login("root").await;
    a.register("alice").await;
    b.register("bob").await;
    let alice = a.login("alice").await;
    let bob = b.login("bob").await;
    let (mut alice_ws, _) = a.connect(&alice).await;
    let (mut bob_ws, _) = b.connect(&bob).await;
    let big: Vec<u8> = (0..6_000_000u32).map(|i| (i % 251) as u8).collect();
    let file = uploaded(&a, &alice, "data.bin", "application/octet-stream", big.clone()).await;
    let image = uploaded(&a, &alice, "shot.png", "image/png", png(800, 800)).await;
    let ack = post_files(&mut alice_ws, 1, "from A", &[&file, &image], "s1").await;
    assert_eq!(ack["type"], "message", "{ack}");
    let seen = until(&mut bob_ws, |f| f["type"] == "message" && f["client_id"] == "s1").await;
    assert_eq!(seen["attachments"], ack["attachments"]);

    let download = fetch(&b, &bob, file["url"].as_str().unwrap(), &[]).await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().to_vec(), big);
    let part = fetch(&b, &bob, file["url"].as_str().unwrap(), &[("range", "bytes=5999990-")]).await;
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().to_vec(), big[5_999_990..].to_vec());
    let thumbnail = fetch(&b, &bob, image["thumbnail_url"].as_str().unwrap(), &[]).await;
    assert_eq!(thumbnail.status(), 200);
    assert_eq!(image::load_from_memory(&thumbnail.bytes().await.unwrap()).unwrap().width(), 400);

    // Removed through B: A's socket hears it, and neither node serves it any more.
    let path = format!("/uploads/{}", image["id"].as_str().unwrap());
    assert_eq!(b.delete_as(&path, Some(&admin)).await.0, 204);
    let edited = until(&mut alice_ws, |f| f["type"] == "edited").await;
    assert_eq!(edited["message"]["attachments"].as_array().unwrap().len(), 1);
    assert_eq!(fetch(&a, &alice, image["url"].as_str().unwrap(), &[]).await.status(), 404);
    assert_eq!(fetch(&b, &bob, image["url"].as_str().unwrap(), &[]).await.status(), 404);
}

#[tokio::test]
async fn nodes_of_a_cluster_refuse_a_local_directory_they_do_not_share() {
    if crate::common::on_postgres() {
        return;
    }
    let cluster = Cluster::new().await;
    let refusal = cluster.refused_node(&[("CHATTERBOX_FILES_SHARED", "false".to_string())]).await;
    assert!(refusal.contains("CHATTERBOX_FILES_URL"), "{refusal}");
}

//! `files`: the speed bars of file uploads and downloads (issue 25), in one run against one
//! server, one account:
//!
//! 1. memory: N uploads of a 25 MiB non-image file at once; the server's RSS is sampled every
//!    10 ms (and its `VmHWM` read before and after) from just before they start until all are
//!    answered: peak growth / N;
//! 2. throughput: K uploads of the 25 MiB file one after the other (random bytes: nothing to
//!    compress), against the disk: before each, 25 MiB written the way the server's local file
//!    store (`object_store`'s `LocalFileSystem`) writes an upload: a new staging file in the
//!    files directory, 1 MiB writes, closed, renamed into place, no fsync;
//! 3. images: K uploads of a 12-megapixel JPEG (4000 x 3000, quality 90, a gradient with sensor
//!    noise: made once here), each followed by an upload of random bytes of the same size: the
//!    JPEG's round trip less the plain one's is what the server spends on the image (spooling it,
//!    decoding, orientation, re-encoding and the thumbnail);
//! 4. downloads: C clients, each on one keep-alive connection, fetch a 1 MiB file R times:
//!    bytes / wall time, and the server's CPU per MiB.
//!
//! Every upload is deleted (`DELETE /uploads/{id}`, untimed) once measured, so the account's
//! quota and the disk hold at most what one phase uploads. Request bodies are written straight
//! from memory in 1 MiB slices over a plain socket (the multipart framing is hand-written, like
//! the rest of the load generator's HTTP), and downloads are read into one reused buffer and
//! dropped: the client adds no copy, compression or allocation per byte to what is measured.

use super::{Common, Meter};
use crate::args::Args;
use crate::http::send;
use crate::procfs::Process;
use crate::stats::{round3, Histogram};
use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Map, Value};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: usize = 1024 * 1024;
/// Bytes per write of a request body, and per write of the disk comparison (the server's local
/// store writes an upload in parts of this size).
const WRITE_BYTES: usize = MIB;
/// Bytes per read of a download.
const READ_BYTES: usize = 256 * 1024;
/// The 12-megapixel photo.
const PHOTO_WIDTH: u32 = 4000;
const PHOTO_HEIGHT: u32 = 3000;
const PHOTO_QUALITY: u8 = 90;
/// How often the server's RSS is read while uploads run.
const RSS_EVERY: Duration = Duration::from_millis(10);
/// One upload, or one download, may take this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Clone, Debug)]
pub struct Params {
    /// Sequential uploads of the large file, and JPEG uploads (`--samples`).
    pub samples: usize,
    /// Large uploads at once for the memory figure (`--concurrent`).
    pub concurrent: usize,
    /// Download clients (`--clients`) and downloads each (`--downloads`).
    pub clients: usize,
    pub downloads: usize,
    /// Size of the large file in MiB (`--upload-mib`, 25: the default upload limit).
    pub upload_mib: usize,
    /// Size of the downloaded file in KiB (`--download-kib`, 1024).
    pub download_kib: usize,
    /// The server's files directory (or one on the same file system): where the disk comparison
    /// writes (`--files-dir`, the system temp directory).
    pub files_dir: PathBuf,
}

impl Params {
    pub fn from_args(args: &Args) -> Result<Self> {
        let params = Self {
            samples: args.get("samples", 5)?,
            concurrent: args.get("concurrent", 4)?,
            clients: args.get("clients", 100)?,
            downloads: args.get("downloads", 20)?,
            upload_mib: args.get("upload-mib", 25)?,
            download_kib: args.get("download-kib", 1024)?,
            files_dir: args.get("files-dir", std::env::temp_dir())?,
        };
        ensure!((1..=50).contains(&params.samples), "--samples must be 1..=50");
        ensure!((1..=64).contains(&params.concurrent), "--concurrent must be 1..=64");
        ensure!((1..=2000).contains(&params.clients), "--clients must be 1..=2000");
        ensure!((1..=10_000).contains(&params.downloads), "--downloads must be 1..=10000");
        ensure!((1..=1024).contains(&params.upload_mib), "--upload-mib must be 1..=1024");
        ensure!((1..=1024 * 1024).contains(&params.download_kib), "--download-kib must be 1..=1048576");
        Ok(params)
    }

    /// Connections open at once at most.
    pub fn connections(&self) -> usize {
        self.clients.max(self.concurrent)
    }
}

/// A small deterministic generator (xorshift64), for incompressible bytes and sensor noise.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `len` pseudo-random bytes (nothing in them compresses), different for each `seed`.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut noise = Noise(seed | 1);
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        bytes.extend_from_slice(&noise.next().to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// A photo-like JPEG: smooth gradients and waves under per-pixel sensor noise of +-15 (a flat or
/// purely random image would encode unrealistically small or large; at 4000 x 3000 and quality
/// 90 this is 6.6 MiB, a camera's size), at `quality`.
pub fn photo_jpeg(width: u32, height: u32, quality: u8) -> Result<Vec<u8>> {
    let mut noise = Noise(0x2545_F491_4F6C_DD1D);
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        let fy = y as f32 / height as f32;
        for x in 0..width {
            let fx = x as f32 / width as f32;
            let r = 60.0 + 140.0 * fx + 25.0 * (6.3 * fy + 3.0 * fx).sin();
            let g = 80.0 + 100.0 * fy + 20.0 * (9.0 * fx).sin();
            let b = 150.0 - 90.0 * fx * fy + 15.0 * (11.0 * (fx + fy)).cos();
            let n = noise.next();
            for (i, base) in [r, g, b].into_iter().enumerate() {
                let jitter = ((n >> (i * 8)) & 0x1f) as f32 - 15.5;
                pixels.push((base + jitter).clamp(0.0, 255.0) as u8);
            }
        }
    }
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality)
        .encode(&pixels, width, height, image::ExtendedColorType::Rgb8)
        .context("encoding the JPEG")?;
    Ok(jpeg)
}

/// The multipart framing around one file in field `file`: what goes before its bytes and after.
fn multipart_frame(boundary: &str, name: &str, content_type: &str) -> (String, String) {
    let before = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    );
    (before, format!("\r\n--{boundary}--\r\n"))
}

/// Status, body and `Server-Timing` of a response read to its end.
fn parse_response(raw: &[u8]) -> Result<(u16, String, Option<String>)> {
    let end = find(raw, b"\r\n\r\n").context("incomplete HTTP response")?;
    let head = std::str::from_utf8(&raw[..end]).context("response head is not UTF-8")?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no HTTP status line")?;
    let body = &raw[end + 4..];
    let body = match header_value(head, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        Some(len) => body.get(..len).context("truncated response body")?,
        None if header_value(head, "transfer-encoding").is_some() => bail!("unexpected chunked response: {head}"),
        None => body,
    };
    let timing = header_value(head, "server-timing").map(str::to_owned);
    Ok((status, String::from_utf8_lossy(body).into_owned(), timing))
}

/// The `dur` of metric `name` in a `Server-Timing` value (milliseconds).
fn timing_of(value: &str, name: &str) -> Option<f64> {
    value.split(',').find_map(|metric| {
        let mut parts = metric.split(';').map(str::trim);
        (parts.next()? == name).then_some(())?;
        parts.find_map(|p| p.strip_prefix("dur=")).and_then(|d| d.parse().ok())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// The value of header `name` (lowercase) in a response head.
fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// An upload the server accepted.
struct Uploaded {
    id: String,
    url: String,
    thumbnail_url: Option<String>,
    width: Option<u64>,
    height: Option<u64>,
    /// From connecting to having the whole answer.
    took: Duration,
    /// An image's processing as the server's `Server-Timing` tells it: `(decode, thumbnail,
    /// encode)` in milliseconds.
    timings: Option<(f64, f64, f64)>,
}

/// `POST /uploads` of `data` named `name` (multipart field `file`), the body written straight
/// from `data` in 1 MiB slices; expects 201.
async fn upload(addr: SocketAddr, token: &str, name: &str, content_type: &str, data: &[u8]) -> Result<Uploaded> {
    let boundary = format!("loadgen-{:016x}", Noise(data.len() as u64 ^ 0x9E37_79B9).next());
    let (before, after) = multipart_frame(&boundary, name, content_type);
    let length = before.len() + data.len() + after.len();
    let head = format!(
        "POST /uploads HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n\r\n{before}"
    );
    let started = Instant::now();
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let written = async {
            stream.write_all(head.as_bytes()).await?;
            for slice in data.chunks(WRITE_BYTES) {
                stream.write_all(slice).await?;
            }
            stream.write_all(after.as_bytes()).await
        }
        .await;
        // The server may answer (413, 429) before reading everything: read the answer anyway.
        let mut raw = Vec::new();
        let read = stream.read_to_end(&mut raw).await;
        match (parse_response(&raw), written, read) {
            (Ok(answer), _, _) => Ok(answer),
            (Err(_), Err(error), _) | (Err(_), Ok(()), Err(error)) => Err(error).context("POST /uploads"),
            (Err(error), Ok(()), Ok(_)) => Err(error),
        }
    };
    let (status, body, timing) =
        tokio::time::timeout(REQUEST_TIMEOUT, exchange).await.context("POST /uploads timed out")??;
    let took = started.elapsed();
    match status {
        201 => {}
        429 => bail!("POST /uploads: 429 {body} (raise CHATTERBOX_UPLOADS_BURST and CHATTERBOX_UPLOADS_PER_SEC)"),
        413 => bail!("POST /uploads: 413 {body} (CHATTERBOX_UPLOAD_MAX_BYTES, CHATTERBOX_UPLOAD_QUOTA_BYTES)"),
        other => bail!("POST /uploads: {other} {body}"),
    }
    let answer: Value = serde_json::from_str(&body).with_context(|| format!("upload answer is not JSON: {body}"))?;
    let text = |key: &str| answer[key].as_str().map(str::to_owned);
    Ok(Uploaded {
        id: text("id").context("no id in the upload answer")?,
        url: text("url").context("no url in the upload answer")?,
        thumbnail_url: text("thumbnail_url"),
        width: answer["width"].as_u64(),
        height: answer["height"].as_u64(),
        took,
        timings: timing
            .as_deref()
            .and_then(|t| Some((timing_of(t, "decode")?, timing_of(t, "thumbnail")?, timing_of(t, "encode")?))),
    })
}

/// `DELETE /uploads/{id}` (a failure is only reported: it frees quota and disk, measures nothing).
async fn forget(addr: SocketAddr, token: &str, id: &str) {
    match send("DELETE", addr, &format!("/uploads/{id}"), None, Some(token), Duration::from_secs(30)).await {
        Ok(answer) if answer.status == 204 => {}
        Ok(answer) => eprintln!("  DELETE /uploads/{id}: {} {}", answer.status, answer.body),
        Err(error) => eprintln!("  DELETE /uploads/{id}: {error:#}"),
    }
}

/// Writes `data` into `dir` as the server's local store writes an upload (a new staging file,
/// `WRITE_BYTES` at a time, closed, renamed to its name; no fsync) and removes it; returns how
/// long the write and the rename took.
pub fn disk_write(dir: &Path, data: &[u8], tag: &str, sync: bool) -> Result<Duration> {
    let path = dir.join(format!("loadgen-disk-{tag}"));
    let staging = dir.join(format!("loadgen-disk-{tag}#1"));
    let started = Instant::now();
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&staging)
        .with_context(|| format!("creating {}", staging.display()))?;
    let mut written = data.chunks(WRITE_BYTES).try_for_each(|slice| file.write_all(slice));
    if sync {
        written = written.and_then(|()| file.sync_all());
    }
    drop(file);
    let renamed = written.and_then(|()| std::fs::rename(&staging, &path));
    let took = started.elapsed();
    let _ = std::fs::remove_file(&staging);
    let _ = std::fs::remove_file(&path);
    renamed.with_context(|| format!("writing {}", path.display()))?;
    Ok(took)
}

/// Downloads `path` `times` times over one keep-alive connection, reading into one reused
/// buffer; records each download's time into `latency`; returns the body bytes read.
async fn download_loop(
    addr: SocketAddr,
    path: &str,
    token: &str,
    times: usize,
    expected: u64,
    latency: &Histogram,
) -> Result<u64> {
    let mut stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n");
    let mut buffer = vec![0u8; READ_BYTES];
    let mut total = 0u64;
    for _ in 0..times {
        let started = Instant::now();
        let one = async {
            stream.write_all(request.as_bytes()).await?;
            let mut filled = 0;
            let end = loop {
                if let Some(end) = find(&buffer[..filled], b"\r\n\r\n") {
                    break end;
                }
                ensure!(filled < buffer.len(), "response head larger than {READ_BYTES} bytes");
                let n = stream.read(&mut buffer[filled..]).await?;
                ensure!(n > 0, "the server closed the connection");
                filled += n;
            };
            let head = std::str::from_utf8(&buffer[..end]).context("response head is not UTF-8")?;
            let status = head.split_whitespace().nth(1).unwrap_or("");
            ensure!(status == "200", "GET {path}: {status}: {}", String::from_utf8_lossy(&buffer[end..filled]));
            let length: u64 = header_value(head, "content-length")
                .and_then(|v| v.parse().ok())
                .context("download without a Content-Length")?;
            ensure!(length == expected, "GET {path}: {length} bytes, expected {expected}");
            let in_buffer = (filled - end - 4) as u64;
            ensure!(in_buffer <= length, "more bytes than the Content-Length");
            let mut left = length - in_buffer;
            while left > 0 {
                let want = (left as usize).min(buffer.len());
                let n = stream.read(&mut buffer[..want]).await?;
                ensure!(n > 0, "the server closed the connection mid-body");
                left -= n as u64;
            }
            Ok(length)
        };
        total += tokio::time::timeout(REQUEST_TIMEOUT, one).await.context("download timed out")??;
        latency.record(started.elapsed().as_nanos() as u64);
    }
    Ok(total)
}

/// Reads the server's RSS every `RSS_EVERY` on its own thread (the runtime is busy with the
/// uploads) and keeps the largest.
struct PeakSampler {
    running: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    samples: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl PeakSampler {
    fn start(server: Process) -> Self {
        let (running, peak, samples) =
            (Arc::new(AtomicBool::new(true)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let thread = std::thread::spawn({
            let (running, peak, samples) = (running.clone(), peak.clone(), samples.clone());
            move || loop {
                if let Ok(kib) = server.rss_kib() {
                    peak.fetch_max(kib, Relaxed);
                    samples.fetch_add(1, Relaxed);
                }
                if !running.load(Relaxed) {
                    return;
                }
                std::thread::sleep(RSS_EVERY);
            }
        });
        Self { running, peak, samples, thread }
    }

    /// The peak (KiB) and the number of readings.
    fn stop(self) -> (u64, u64) {
        self.running.store(false, Relaxed);
        let _ = self.thread.join();
        (self.peak.load(Relaxed), self.samples.load(Relaxed))
    }
}

/// The peak resident memory of the process so far (`VmHWM`), in KiB.
fn high_water_kib(server: Process) -> Option<u64> {
    let Process::Pid(pid) = server else { return None };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line["VmHWM:".len()..].split_whitespace().next()?.parse().ok()
}

/// Exact quantiles of a few timings.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> Value {
    json!(round3(d.as_secs_f64() * 1e3))
}

fn mib_per_s(bytes: u64, took: Duration) -> f64 {
    round3(bytes as f64 / MIB as f64 / took.as_secs_f64().max(1e-9))
}

/// Every field of a meter's with `prefix` (several phases are metered in one result line).
fn prefixed(prefix: &str, fields: Map<String, Value>) -> impl Iterator<Item = (String, Value)> + '_ {
    fields.into_iter().map(move |(key, value)| (format!("{prefix}{key}"), value))
}

/// `loadgen files`.
pub async fn run(common: &Common, params: Params) -> Result<Value> {
    ensure!(params.files_dir.is_dir(), "--files-dir {} is not a directory", params.files_dir.display());
    let addr = common.addr;
    let big = Arc::new(random_bytes(params.upload_mib * MIB, 1));
    let small = random_bytes(params.download_kib * 1024, 2);
    let started = Instant::now();
    let photo = tokio::task::spawn_blocking(|| photo_jpeg(PHOTO_WIDTH, PHOTO_HEIGHT, PHOTO_QUALITY)).await??;
    let plain = random_bytes(photo.len(), 3);
    eprintln!(
        "  {PHOTO_WIDTH}x{PHOTO_HEIGHT} JPEG of {:.2} MiB made in {:.1} s",
        photo.len() as f64 / MIB as f64,
        started.elapsed().as_secs_f64()
    );
    let whole = Meter::start(common.server);
    let accounts = common.accounts(1).await?;
    let token = accounts.token(0).to_owned();
    let mut fields = Map::new();
    fields.insert("upload_mib".into(), json!(params.upload_mib));

    // The file the download phase reads; also the server's first upload, so that the memory
    // phase does not count what the first upload of all sets up once.
    let download = upload(addr, &token, "download.bin", "application/octet-stream", &small).await?;

    // 1. Memory: N large uploads at once.
    if let Some(server) = common.server {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (rss_before, hwm_before) = (server.rss_kib()?, high_water_kib(server));
        let sampler = PeakSampler::start(server);
        let at_once = Instant::now();
        let tasks: Vec<_> = (0..params.concurrent)
            .map(|i| {
                let (big, token) = (big.clone(), token.clone());
                tokio::spawn(async move {
                    upload(addr, &token, &format!("concurrent-{i}.bin"), "application/octet-stream", &big).await
                })
            })
            .collect();
        let mut uploaded = Vec::new();
        for task in tasks {
            uploaded.push(task.await?);
        }
        let wall = at_once.elapsed();
        let (sampled_peak, samples) = sampler.stop();
        let hwm_after = high_water_kib(server);
        let uploaded: Vec<Uploaded> = uploaded.into_iter().collect::<Result<_>>()?;
        for u in &uploaded {
            forget(addr, &token, &u.id).await;
        }
        // The kernel's high-water mark catches a peak between two readings, when it is new.
        let hwm_peak = match (hwm_before, hwm_after) {
            (Some(before), Some(after)) if after > before => after,
            _ => 0,
        };
        let peak = sampled_peak.max(hwm_peak).max(rss_before);
        let growth = peak - rss_before;
        let per_upload = growth as f64 / 1024.0 / params.concurrent as f64;
        eprintln!(
            "  {} x {} MiB at once in {:.2} s: server RSS {rss_before} KiB -> peak {peak} KiB (+{growth} KiB, \
             {per_upload:.2} MiB per upload; {samples} readings, VmHWM {hwm_before:?} -> {hwm_after:?} KiB)",
            params.concurrent,
            params.upload_mib,
            wall.as_secs_f64()
        );
        fields.insert("concurrent".into(), json!(params.concurrent));
        fields.insert("concurrent_wall_s".into(), json!(round3(wall.as_secs_f64())));
        fields.insert(
            "concurrent_mib_per_s".into(),
            json!(mib_per_s((params.concurrent * params.upload_mib * MIB) as u64, wall)),
        );
        fields.insert("server_rss_before_kib".into(), json!(rss_before));
        fields.insert("server_rss_peak_sampled_kib".into(), json!(sampled_peak));
        fields.insert("server_rss_samples".into(), json!(samples));
        fields.insert("server_hwm_before_kib".into(), json!(hwm_before));
        fields.insert("server_hwm_after_kib".into(), json!(hwm_after));
        fields.insert("server_rss_peak_kib".into(), json!(peak));
        fields.insert("server_rss_peak_growth_kib".into(), json!(growth));
        fields.insert("upload_peak_rss_growth_mib_per_upload".into(), json!(round3(per_upload)));
    } else {
        eprintln!("  no --server-pid: the memory of concurrent uploads is not measured");
    }

    // 2. Throughput: K sequential uploads, each after writing as many bytes to the disk.
    let (mut uploads, mut writes, mut synced) = (Vec::new(), Vec::new(), Vec::new());
    let meter = Meter::start(common.server);
    for i in 0..params.samples {
        let dir = params.files_dir.clone();
        let (data, tag) = (big.clone(), format!("{}-{i}", common.nonce));
        let (dir2, data2, tag2) = (dir.clone(), data.clone(), format!("{tag}-synced"));
        writes.push(tokio::task::spawn_blocking(move || disk_write(&dir, &data, &tag, false)).await??);
        synced.push(tokio::task::spawn_blocking(move || disk_write(&dir2, &data2, &tag2, true)).await??);
        let u = upload(addr, &token, &format!("sequential-{i}.bin"), "application/octet-stream", &big).await?;
        uploads.push(u.took);
        forget(addr, &token, &u.id).await;
    }
    let upload_meter = meter.fields((params.samples * params.upload_mib) as u64, "mib");
    let bytes = (params.samples * params.upload_mib * MIB) as u64;
    let upload_rate = mib_per_s(bytes, uploads.iter().sum());
    let disk_rate = mib_per_s(bytes, writes.iter().sum());
    let synced_rate = mib_per_s(bytes, synced.iter().sum());
    uploads.sort();
    writes.sort();
    eprintln!(
        "  {} sequential {} MiB uploads: {upload_rate} MiB/s (p50 {:.1} ms); the disk writes {disk_rate} MiB/s \
         (p50 {:.1} ms) into {}: {:.2}x",
        params.samples,
        params.upload_mib,
        quantile(&uploads, 0.5).as_secs_f64() * 1e3,
        quantile(&writes, 0.5).as_secs_f64() * 1e3,
        params.files_dir.display(),
        upload_rate / disk_rate
    );
    fields.insert("samples".into(), json!(params.samples));
    fields.insert("upload_mib_per_s".into(), json!(upload_rate));
    fields.insert("upload_p50_ms".into(), ms(quantile(&uploads, 0.5)));
    fields.insert("upload_max_ms".into(), ms(quantile(&uploads, 1.0)));
    fields.insert("disk_write_mib_per_s".into(), json!(disk_rate));
    fields.insert("disk_write_p50_ms".into(), ms(quantile(&writes, 0.5)));
    fields.insert("upload_vs_disk_ratio".into(), json!(round3(upload_rate / disk_rate)));
    // The same bytes written and flushed to the device (fsync): the disk itself, not the page cache.
    fields.insert("disk_synced_write_mib_per_s".into(), json!(synced_rate));
    fields.insert("upload_vs_synced_disk_ratio".into(), json!(round3(upload_rate / synced_rate)));
    fields.insert("files_dir".into(), json!(params.files_dir.display().to_string()));
    fields.extend(prefixed("upload_", upload_meter));

    // 3. Images: the JPEG against random bytes of its size, alternating.
    let (mut photos, mut plains, mut timings) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..params.samples {
        let u = upload(addr, &token, &format!("photo-{i}.jpg"), "image/jpeg", &photo).await?;
        if i == 0 {
            ensure!(
                (u.width, u.height) == (Some(PHOTO_WIDTH.into()), Some(PHOTO_HEIGHT.into())),
                "the JPEG came back as {:?} x {:?}",
                u.width,
                u.height
            );
            let thumbnail = u.thumbnail_url.as_deref().context("the JPEG got no thumbnail_url")?;
            let answer = crate::http::get(addr, thumbnail, &token, Duration::from_secs(30)).await?;
            ensure!(answer.status == 200, "GET {thumbnail}: {}", answer.status);
        }
        photos.push(u.took);
        timings.push(u.timings.context("the JPEG's answer has no Server-Timing")?);
        forget(addr, &token, &u.id).await;
        let p = upload(addr, &token, &format!("plain-{i}.bin"), "application/octet-stream", &plain).await?;
        plains.push(p.took);
        forget(addr, &token, &p.id).await;
    }
    photos.sort();
    plains.sort();
    let plain_p50 = quantile(&plains, 0.5);
    let processing_p50 = quantile(&photos, 0.5).saturating_sub(plain_p50);
    let processing_max = quantile(&photos, 1.0).saturating_sub(plain_p50);
    eprintln!(
        "  {} JPEG uploads: round trip p50 {:.1} ms, max {:.1} ms; the same size of plain bytes p50 {:.1} ms: \
         processing p50 {:.1} ms, max {:.1} ms",
        params.samples,
        quantile(&photos, 0.5).as_secs_f64() * 1e3,
        quantile(&photos, 1.0).as_secs_f64() * 1e3,
        plain_p50.as_secs_f64() * 1e3,
        processing_p50.as_secs_f64() * 1e3,
        processing_max.as_secs_f64() * 1e3
    );
    fields.insert("jpeg_bytes".into(), json!(photo.len()));
    fields.insert("jpeg_width".into(), json!(PHOTO_WIDTH));
    fields.insert("jpeg_height".into(), json!(PHOTO_HEIGHT));
    fields.insert("jpeg_upload_p50_ms".into(), ms(quantile(&photos, 0.5)));
    fields.insert("jpeg_upload_max_ms".into(), ms(quantile(&photos, 1.0)));
    fields.insert("plain_same_size_p50_ms".into(), ms(plain_p50));
    fields.insert("processing_ms".into(), ms(processing_p50));
    fields.insert("processing_max_ms".into(), ms(processing_max));
    // The thumbnail of the JPEG's bytes: decoding them, then making it from the pixels (the
    // server's own clock, Server-Timing); the re-encoding of the whole image runs beside it.
    let median = |pick: fn(&(f64, f64, f64)) -> f64| {
        let mut values: Vec<f64> = timings.iter().map(pick).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let mut thumbnails: Vec<f64> = timings.iter().map(|t| t.0 + t.1).collect();
    thumbnails.sort_by(f64::total_cmp);
    fields.insert("decode_ms".into(), json!(median(|t| t.0)));
    fields.insert("thumbnail_only_ms".into(), json!(median(|t| t.1)));
    fields.insert("encode_ms".into(), json!(median(|t| t.2)));
    fields.insert("thumbnail_ms".into(), json!(thumbnails.get(thumbnails.len() / 2).copied().unwrap_or(f64::NAN)));
    fields.insert("thumbnail_max_ms".into(), json!(thumbnails.last().copied().unwrap_or(f64::NAN)));

    // 4. Downloads: C keep-alive clients, R downloads each.
    let latency = Arc::new(Histogram::default());
    let meter = Meter::start(common.server);
    let tasks: Vec<_> = (0..params.clients)
        .map(|_| {
            let (path, token, latency) = (download.url.clone(), token.clone(), latency.clone());
            let (times, expected) = (params.downloads, small.len() as u64);
            tokio::spawn(async move { download_loop(addr, &path, &token, times, expected, &latency).await })
        })
        .collect();
    let (mut bytes, mut failed) = (0u64, 0usize);
    for task in tasks {
        match task.await? {
            Ok(n) => bytes += n,
            Err(error) => {
                if failed < 3 {
                    eprintln!("  download client failed: {error:#}");
                }
                failed += 1;
            }
        }
    }
    let wall = meter.elapsed();
    let mib = bytes / MIB as u64;
    let download_meter = meter.fields(mib, "mib");
    forget(addr, &token, &download.id).await;
    ensure!(bytes > 0, "no download succeeded");
    let each = latency.snapshot();
    let rate = mib_per_s(bytes, wall);
    eprintln!(
        "  {} clients x {} downloads of {} KiB: {rate} MiB/s ({failed} clients failed); each download {}",
        params.clients,
        params.downloads,
        params.download_kib,
        each.describe()
    );
    fields.insert("clients".into(), json!(params.clients));
    fields.insert("downloads_per_client".into(), json!(params.downloads));
    fields.insert("download_kib".into(), json!(params.download_kib));
    fields.insert("download_bytes".into(), json!(bytes));
    fields.insert("download_failed_clients".into(), json!(failed));
    fields.insert("download_mib_per_s".into(), json!(rate));
    fields.extend(each.to_json("download_"));
    fields.extend(prefixed("download_", download_meter));
    fields.extend(whole.fields(0, "run"));
    common.emit("files", "files".into(), fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn random_bytes_do_not_repeat_and_have_the_length_asked() {
        let a = random_bytes(1001, 1);
        assert_eq!(a.len(), 1001);
        assert_ne!(a, random_bytes(1001, 2));
        assert_eq!(a, random_bytes(1001, 1));
        // Incompressible enough: every byte value shows up in 64 KiB.
        let seen: std::collections::HashSet<u8> = random_bytes(64 * 1024, 7).into_iter().collect();
        assert_eq!(seen.len(), 256);
    }

    #[test]
    fn the_photo_is_a_jpeg_of_the_size_asked() {
        let jpeg = photo_jpeg(64, 48, 90).unwrap();
        assert_eq!(&jpeg[..3], &[0xFF, 0xD8, 0xFF]);
        let decoded = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (64, 48));
    }

    #[test]
    fn the_disk_write_leaves_nothing_behind() {
        let dir = std::env::temp_dir().join(format!("loadgen-files-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let took = disk_write(&dir, &random_bytes(3 * MIB + 5, 1), "t", true).unwrap();
        assert!(took > Duration::ZERO);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir(&dir).unwrap();
        assert!(disk_write(&dir, b"x", "t", false).is_err(), "a missing directory is an error");
    }

    #[test]
    fn responses_are_cut_at_their_length() {
        let (status, body, _) = parse_response(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}junk").unwrap();
        assert_eq!((status, body.as_str()), (201, "{}"));
        let (status, body, timing) = parse_response(
            b"HTTP/1.1 413 Payload Too Large\r\nServer-Timing: decode;dur=140.5, thumbnail;dur=41\r\n\r\ntoo big",
        )
        .unwrap();
        let timing = timing.unwrap();
        assert_eq!((timing_of(&timing, "decode"), timing_of(&timing, "thumbnail")), (Some(140.5), Some(41.0)));
        assert_eq!(timing_of(&timing, "encode"), None);
        assert_eq!((status, body.as_str()), (413, "too big"));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_err());
    }

    /// Reads one HTTP request (head and `Content-Length` body) from `stream`.
    async fn read_request(stream: &mut TcpStream) -> (String, Vec<u8>) {
        let mut raw = Vec::new();
        let mut buffer = [0u8; 64 * 1024];
        let end = loop {
            if let Some(end) = find(&raw, b"\r\n\r\n") {
                break end;
            }
            let n = stream.read(&mut buffer).await.unwrap();
            assert!(n > 0);
            raw.extend_from_slice(&buffer[..n]);
        };
        let head = String::from_utf8(raw[..end].to_vec()).unwrap();
        let length: usize = header_value(&head, "content-length").map_or(0, |v| v.parse().unwrap());
        while raw.len() < end + 4 + length {
            let n = stream.read(&mut buffer).await.unwrap();
            assert!(n > 0);
            raw.extend_from_slice(&buffer[..n]);
        }
        (head, raw[end + 4..].to_vec())
    }

    #[tokio::test]
    async fn an_upload_is_one_well_framed_multipart_file() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let data = random_bytes(2 * MIB + 3, 9);
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let (head, body) = read_request(&mut stream).await;
            let answer = r#"{"id":"abc","name":"a.bin","size":3,"content_type":"x","url":"/files/abc/a.bin"}"#;
            let response = format!("HTTP/1.1 201 Created\r\nContent-Length: {}\r\n\r\n{answer}", answer.len());
            stream.write_all(response.as_bytes()).await.unwrap();
            (head, body)
        });
        let uploaded = upload(addr, "t0k", "a.bin", "application/octet-stream", &data).await.unwrap();
        assert_eq!((uploaded.id.as_str(), uploaded.url.as_str()), ("abc", "/files/abc/a.bin"));
        let (head, body) = server.await.unwrap();
        assert!(head.starts_with("POST /uploads HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("\r\nAuthorization: Bearer t0k"), "{head}");
        let boundary = header_value(&head, "content-type").unwrap().split("boundary=").nth(1).unwrap().to_owned();
        let (before, after) = multipart_frame(&boundary, "a.bin", "application/octet-stream");
        assert!(before.contains("name=\"file\"; filename=\"a.bin\""));
        assert_eq!(body.len(), before.len() + data.len() + after.len());
        assert_eq!(&body[..before.len()], before.as_bytes());
        assert_eq!(&body[before.len()..before.len() + data.len()], &data[..]);
        assert_eq!(&body[before.len() + data.len()..], after.as_bytes());
        assert!(find(&data, boundary.as_bytes()).is_none());
    }

    #[tokio::test]
    async fn a_refused_upload_says_why() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let _ = read_request(&mut stream).await;
            let body = r#"{"error":"slow down"}"#;
            let response = format!("HTTP/1.1 429 Too Many Requests\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            stream.write_all(response.as_bytes()).await.unwrap();
        });
        let error = upload(addr, "t", "a", "application/octet-stream", b"abc").await.err().unwrap();
        assert!(format!("{error:#}").contains("CHATTERBOX_UPLOADS_BURST"), "{error:#}");
    }

    #[tokio::test]
    async fn downloads_reuse_one_connection_and_count_every_byte() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let file = random_bytes(700_000, 4);
        let served = file.clone();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            for _ in 0..3 {
                let (head, _) = read_request(&mut stream).await;
                assert!(head.starts_with("GET /files/x/y HTTP/1.1\r\n"), "{head}");
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", served.len());
                stream.write_all(head.as_bytes()).await.unwrap();
                // The body in uneven writes, the first together with the head's end.
                for piece in served.chunks(123_457) {
                    stream.write_all(piece).await.unwrap();
                }
            }
        });
        let latency = Histogram::default();
        let bytes = download_loop(addr, "/files/x/y", "t", 3, file.len() as u64, &latency).await.unwrap();
        assert_eq!(bytes, 3 * file.len() as u64);
        assert_eq!(latency.snapshot().count(), 3);
        server.await.unwrap();
        // A file of another size is refused.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let _ = read_request(&mut stream).await;
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc").await.unwrap();
        });
        assert!(download_loop(addr, "/files/x/y", "t", 1, 4, &latency).await.is_err());
    }

    #[test]
    fn quantiles_of_a_few_timings() {
        let sorted: Vec<Duration> = [1, 2, 3, 4, 5].map(Duration::from_millis).to_vec();
        assert_eq!(quantile(&sorted, 0.5), Duration::from_millis(3));
        assert_eq!(quantile(&sorted, 1.0), Duration::from_millis(5));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }
}

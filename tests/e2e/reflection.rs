//! `continuum up` runs the four services in one process, one per port: each port's reflection lists
//! exactly what that port serves — its own service, health and reflection — not all four services
//! (issue 14, point 6).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

/// Kills the child on drop (a failed assertion must not leave `continuum up` running).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn listed_services(addr: &str) -> Vec<String> {
    let channel = continuum_runtime::peer_channel(addr).unwrap();
    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([ask]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("not a list")
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_continuum_up_each_ports_reflection_lists_its_own_service() {
    let data = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = crate::stack::free_addrs(5).iter().map(|a| a.port()).collect();
    let services = [
        ("intake", "continuum.intake.v1.IntakeService"),
        ("matching", "continuum.matching.v1.MatchingService"),
        ("referral", "continuum.referral.v1.ReferralService"),
        ("waitlist", "continuum.waitlist.v1.WaitlistService"),
    ];
    let log = std::fs::File::create(data.path().join("up.log")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_continuum"));
    cmd.arg("up").env_clear().env("CONTINUUM_DATA_DIR", data.path().join("data"));
    for (i, (name, _)) in services.iter().enumerate() {
        cmd.arg(format!("--{name}-port")).arg(ports[i].to_string());
    }
    let child = cmd
        .env("CONTINUUM_METRICS_ADDR", format!("127.0.0.1:{}", ports[4]))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let _up = Running(child);
    let read_log = || std::fs::read_to_string(data.path().join("up.log")).unwrap_or_default();

    for (i, (name, service)) in services.iter().enumerate() {
        let addr = format!("127.0.0.1:{}", ports[i]);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let serving = match continuum_runtime::peer_channel(&addr) {
                Ok(ch) => HealthClient::new(ch)
                    .check(HealthCheckRequest { service: (*service).into() })
                    .await
                    .is_ok_and(|r| r.into_inner().status == 1),
                Err(_) => false,
            };
            if serving {
                break;
            }
            assert!(Instant::now() < deadline, "{name} never served; log:\n{}", read_log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut wanted = vec![
            (*service).to_owned(),
            "grpc.health.v1.Health".to_owned(),
            "grpc.reflection.v1.ServerReflection".to_owned(),
            "grpc.reflection.v1alpha.ServerReflection".to_owned(),
        ];
        wanted.sort();
        assert_eq!(listed_services(&addr).await, wanted, "{name}'s port");
    }
}

//! The thin shell around the `docker` and `docker-compose` commands: run
//! one, and turn a failure into an error that names the command and ends
//! with what it printed. Containers are addressed by name only, so the same
//! calls work on containers started by compose or by testcontainers.
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use tokio::process::Command;

use crate::ExerciseError;

/// How long one docker command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(300);

/// Runs `program args`, returning its standard output; a non-zero exit is
/// an error with the end of its output.
pub async fn run(program: &str, args: &[&str]) -> Result<String, ExerciseError> {
    let line = format!("{program} {}", args.join(" "));
    let output = tokio::time::timeout(
        COMMAND_LIMIT,
        Command::new(program).args(args).kill_on_drop(true).output(),
    )
    .await
    .map_err(|_| ExerciseError::Docker {
        command: line.clone(),
        detail: format!("no answer within {}s", COMMAND_LIMIT.as_secs()),
    })?
    .map_err(|e| ExerciseError::Docker {
        command: line.clone(),
        detail: format!("cannot run it: {e} (is Docker installed?)"),
    })?;
    checked(line, output)
}

fn checked(line: String, output: Output) -> Result<String, ExerciseError> {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr
        .lines()
        .chain(stdout.lines())
        .rev()
        .take(12)
        .collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(ExerciseError::Docker {
        command: line,
        detail: format!("{}\n{}", output.status, tail.join("\n")),
    })
}

/// `docker ARGS`.
pub async fn docker(args: &[&str]) -> Result<String, ExerciseError> {
    run("docker", args).await
}

/// The compose command here: Compose v2 (`docker compose`) if present,
/// else `docker-compose` (v1, as Debian ships it).
pub async fn compose_program() -> Result<(String, Vec<String>), ExerciseError> {
    if run("docker", &["compose", "version"]).await.is_ok() {
        return Ok(("docker".into(), vec!["compose".into()]));
    }
    if run("docker-compose", &["version"]).await.is_ok() {
        return Ok(("docker-compose".into(), Vec::new()));
    }
    Err(ExerciseError::Docker {
        command: "docker compose version; docker-compose version".into(),
        detail: "neither Compose v2 nor docker-compose is installed".into(),
    })
}

/// `docker-compose -p PROJECT -f FILE ARGS`.
pub async fn compose(project: &str, file: &Path, args: &[&str]) -> Result<String, ExerciseError> {
    let (program, mut all) = compose_program().await?;
    let file = file.display().to_string();
    all.extend(["-p".into(), project.into(), "-f".into(), file]);
    all.extend(args.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    run(&program, &refs).await
}

/// Runs `args` inside `container`.
pub async fn exec(container: &str, args: &[&str]) -> Result<String, ExerciseError> {
    let mut all = vec!["exec", container];
    all.extend_from_slice(args);
    docker(&all).await
}

/// The host PID of a running container's first process.
pub async fn pid(container: &str) -> Result<u32, ExerciseError> {
    let out = docker(&["inspect", "-f", "{{.State.Pid}}", container]).await?;
    out.trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| ExerciseError::Docker {
            command: format!("docker inspect {container}"),
            detail: format!("no running process (State.Pid is {:?})", out.trim()),
        })
}

/// True if the image exists locally.
pub async fn image_exists(image: &str) -> bool {
    docker(&["image", "inspect", image]).await.is_ok()
}

/// Runs `iptables ARGS` in the network namespace of `container`, from the
/// host (the images carry no iptables).
pub async fn iptables_in(container: &str, args: &[&str]) -> Result<String, ExerciseError> {
    in_netns(container, "iptables", args).await
}

/// Runs `PROGRAM ARGS` (a host tool: `iptables`, `tc`, `ip`) in the
/// network namespace of `container`.
pub async fn in_netns(
    container: &str,
    program: &str,
    args: &[&str],
) -> Result<String, ExerciseError> {
    let pid = pid(container).await?.to_string();
    let mut all = vec!["-t", pid.as_str(), "-n", program];
    all.extend_from_slice(args);
    run("nsenter", &all).await
}

//! A throwaway certificate authority for TLS tests, made with the `openssl` command-line tool: a CA,
//! a server certificate it signs (subjectAltName `DNS:localhost` only, so connecting by `127.0.0.1`
//! under `verify-full` is a wrong host), client certificates on demand, and a second, unrelated CA
//! (the "wrong CA").
//!
//! Keys are EC P-256 (fast to generate). Everything lives in one folder that the cluster removes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ClusterError;

/// Paths of the test PKI.
#[derive(Debug, Clone)]
pub struct TestCa {
    dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), ClusterError> {
    let out = Command::new("openssl").current_dir(dir).args(args).output().map_err(|e| {
        ClusterError::Command { cmd: "openssl (is it installed?)".into(), output: e.to_string() }
    })?;
    if !out.status.success() {
        return Err(ClusterError::Command {
            cmd: format!("openssl {}", args.join(" ")),
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

const EC: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

fn self_signed_ca(dir: &Path, name: &str, cn: &str) -> Result<(), ClusterError> {
    let (key, crt, subj) = (format!("{name}.key"), format!("{name}.crt"), format!("/CN={cn}"));
    let mut args = vec!["req", "-x509", "-new", "-days", "3", "-subj", &subj, "-keyout", &key, "-out", &crt];
    args.extend_from_slice(EC);
    args.extend_from_slice(&[
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &args)
}

/// A leaf certificate `name.crt`/`name.key` signed by `ca`, with the given extensions.
fn leaf(dir: &Path, ca: &str, name: &str, cn: &str, ext: &str) -> Result<(), ClusterError> {
    let (key, csr, crt, subj) =
        (format!("{name}.key"), format!("{name}.csr"), format!("{name}.crt"), format!("/CN={cn}"));
    let mut args = vec!["req", "-new", "-subj", &subj, "-keyout", &key, "-out", &csr];
    args.extend_from_slice(EC);
    openssl(dir, &args)?;
    let ext_file = format!("{name}.ext");
    std::fs::write(dir.join(&ext_file), ext)?;
    let (ca_crt, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_crt,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "3",
            "-out",
            &crt,
            "-extfile",
            &ext_file,
        ],
    )
}

impl TestCa {
    /// Create the CA, the server certificate and the unrelated CA in `dir`.
    pub fn create(dir: &Path) -> Result<TestCa, ClusterError> {
        std::fs::create_dir_all(dir)?;
        self_signed_ca(dir, "ca", "tidemark test CA")?;
        self_signed_ca(dir, "other-ca", "some other CA")?;
        leaf(
            dir,
            "ca",
            "server",
            "localhost",
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )?;
        Ok(TestCa { dir: dir.to_path_buf() })
    }

    /// The CA that signed the server certificate (a correct `sslrootcert`).
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// A CA that signed nothing the server presents (a wrong `sslrootcert`).
    pub fn other_ca_cert(&self) -> PathBuf {
        self.dir.join("other-ca.crt")
    }

    /// Server certificate and key.
    pub fn server(&self) -> (PathBuf, PathBuf) {
        (self.dir.join("server.crt"), self.dir.join("server.key"))
    }

    /// A client certificate for role `user` (CN = user) signed by the CA: `(cert, key)`.
    pub fn client_cert(&self, user: &str) -> Result<(PathBuf, PathBuf), ClusterError> {
        let name = format!("client-{user}");
        leaf(
            &self.dir,
            "ca",
            &name,
            user,
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
        )?;
        Ok((self.dir.join(format!("{name}.crt")), self.dir.join(format!("{name}.key"))))
    }
}

# syntax=docker/dockerfile:1
# The operator image: built with the Rust toolchain, run on a distroless base that has the
# C runtime and CA certificates and nothing else (no shell, no package manager), as a
# non-root user. Build: docker build -t m365-operator:dev .

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and build artefacts between builds without putting them
# into a layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin m365-operator \
    && install -D target/release/m365-operator /out/m365-operator

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/m365-operator /usr/local/bin/m365-operator
# The `nonroot` user of the base image; the manifests run as the same uid.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/m365-operator"]
CMD ["run", "--log-format", "json"]

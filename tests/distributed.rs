//! Distributable functions (`#[taskref::remote]`): registration by path, the
//! worker's side of a call (encoded arguments in, encoded result out), and the
//! errors a driver and worker built from different code would see.

use taskref::Runtime;

#[taskref::remote]
fn double(x: u64) -> u64 {
    2 * x
}

#[taskref::remote]
async fn join(words: Vec<String>, separator: String) -> String {
    tokio::task::yield_now().await;
    words.join(&separator)
}

#[taskref::remote]
fn nothing() {}

mod nested {
    #[taskref::remote]
    pub(crate) fn shout(word: String) -> String {
        word.to_uppercase()
    }
}

/// The wire format of arguments and results: postcard.
fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).unwrap()
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> T {
    postcard::from_bytes(bytes).unwrap()
}

/// Runs a registered function as a worker would: by name, on one encoded
/// argument per parameter.
fn run(name: &str, args: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let call = taskref::__private::call(name, &args).map_err(|err| err.to_string())?;
    futures::executor::block_on(call).map_err(|err| err.to_string())
}

fn registered_name<F: 'static, L, K>(f: &taskref::RemoteFn<F, L, K>) -> &'static str {
    f.distributed_name().expect("registered")
}

#[test]
fn registered_functions_are_found_by_their_path_and_closures_are_not() {
    let rt = Runtime::new().unwrap();
    assert_eq!(
        registered_name(&rt.remote_blocking(double)),
        "distributed::double"
    );
    assert_eq!(registered_name(&rt.remote(join)), "distributed::join");
    assert_eq!(
        registered_name(&rt.remote_blocking(nested::shout)),
        "distributed::nested::shout"
    );
    assert_eq!(
        registered_name(&rt.remote_blocking(nothing)),
        "distributed::nothing"
    );
    assert_eq!(rt.remote_blocking(|x: u64| x).distributed_name(), None);
    fn plain(x: u64) -> u64 {
        x
    }
    assert_eq!(rt.remote_blocking(plain).distributed_name(), None);
}

#[test]
fn in_process_they_run_like_any_function() {
    let rt = Runtime::new().unwrap();
    assert_eq!(
        rt.remote_blocking(double).remote(21).block_get().unwrap(),
        42
    );
    let words = vec!["a".to_string(), "b".to_string()];
    let joined = rt.remote(join).remote((words, "-".to_string()));
    assert_eq!(joined.block_get().unwrap(), "a-b");
    assert_eq!(double(1), 2, "still a plain function");
}

#[test]
fn a_worker_runs_them_by_name_on_encoded_arguments() {
    let rt = Runtime::new().unwrap();
    let doubling = registered_name(&rt.remote_blocking(double));
    assert_eq!(
        decode::<u64>(&run(doubling, &[encode(&21u64)]).unwrap()),
        42
    );
    let words = vec!["x".to_string(), "y".to_string()];
    let args = [encode(&words), encode(&"+".to_string())];
    let out = run(registered_name(&rt.remote(join)), &args).unwrap();
    assert_eq!(decode::<String>(&out), "x+y");
    let out = run(registered_name(&rt.remote_blocking(nothing)), &[]).unwrap();
    decode::<()>(&out);
    let err = run(doubling, &[]).unwrap_err();
    assert!(
        err.contains("takes 1 argument(s), the call gave 0"),
        "{err}"
    );
}

#[test]
fn unknown_names_and_bad_bytes_are_clear_errors() {
    let err = match taskref::__private::call("nowhere::to_be_found", &[]) {
        Err(err @ taskref::__private::CallError::UnknownFunction(_)) => err.to_string(),
        Err(other) => panic!("an unknown name is UnknownFunction, not {other:?}"),
        Ok(_) => panic!("an unknown name must not run"),
    };
    assert!(err.contains("nowhere::to_be_found"), "{err}");
    assert!(err.contains("built from different code"), "{err}");
    let err = run("distributed::join", &[vec![0xff, 0xff], vec![]]).unwrap_err();
    assert!(err.contains("could not be deserialized"), "{err}");
    assert_ne!(taskref::__private::build_id(), 0);
}

#[taskref::remote]
fn input(x: u32) -> u32 {
    x + 1
}

#[taskref::remote]
fn arg0(x: u32) -> u32 {
    x + 2
}

#[taskref::remote]
fn explode(x: u32) -> u32 {
    panic!("explode was given {x}")
}

#[test]
fn the_thunk_never_hides_the_users_names_and_panics_become_errors() {
    let rt = Runtime::new().unwrap();
    let one = [encode(&1u32)];
    let out = run(registered_name(&rt.remote_blocking(input)), &one).unwrap();
    assert_eq!(decode::<u32>(&out), 2);
    let out = run(registered_name(&rt.remote_blocking(arg0)), &one).unwrap();
    assert_eq!(decode::<u32>(&out), 3);
    let seven = [encode(&7u32)];
    let err = run(registered_name(&rt.remote_blocking(explode)), &seven).unwrap_err();
    assert!(err.contains("explode was given 7"), "{err}");
}

#[test]
fn a_ray_runtime_without_ray_fails_to_build_at_once_with_what_was_tried() {
    let started = std::time::Instant::now();
    let err = taskref::Runtime::builder()
        .ray("127.0.0.1:9")
        .ray_python("/nonexistent/taskref-test/python3")
        .build()
        .unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let message = err.to_string();
    assert!(
        message.contains("/nonexistent/taskref-test/python3"),
        "{message}"
    );
    assert!(
        message.contains("TASKREF_RAY_PYTHON"),
        "says how to fix it: {message}"
    );
}

#[test]
fn a_ray_runtime_is_built_not_attached() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let err = taskref::Runtime::builder()
        .ray("auto")
        .attach(tokio.handle().clone())
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

with

source as (

    select * from {{ source('evals', 'runs') }}

),

renamed as (

    select
        -- ids
        run_id,
        model,
        datasets,
        profile,

        -- engine
        backend,
        backend_version,
        engine_args,
        device,
        tensor_parallel_size,

        -- numerics
        wall_s,
        engine_load_s,
        inference_s,
        gpu_seconds,
        tokens_in,
        tokens_out,
        samples,

        -- timestamps
        started_at,
        finished_at

    from source

)

select * from renamed

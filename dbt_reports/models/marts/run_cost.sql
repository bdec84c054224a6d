-- What each run cost: one row per Dagster run and model (a run loads one model's engine once and evaluates all
-- of its requested datasets).

with

runs as (

    select * from {{ ref('stg_runs') }}

),

final as (

    select
        -- ids
        run_id,
        model,
        datasets,
        profile,
        backend,
        backend_version,
        device,
        tensor_parallel_size,

        -- time
        wall_s,
        engine_load_s,
        inference_s,
        gpu_seconds,
        gpu_seconds / 3600 as gpu_hours,

        -- throughput over the inference phase (engine loading excluded)
        tokens_in,
        tokens_out,
        samples,
        (tokens_in + tokens_out) / nullif(inference_s, 0) as tokens_per_second,
        tokens_out / nullif(inference_s, 0) as output_tokens_per_second,

        -- timestamps
        started_at,
        finished_at

    from runs

)

select * from final

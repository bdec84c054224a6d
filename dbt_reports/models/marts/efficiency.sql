-- Quality against cost per (model, dataset): the leaderboard's primary metric next to throughput, GPU time per
-- 100 samples and score per active billion parameters (the mixture-of-experts category's key metric).

with

leaderboard as (

    select * from {{ ref('leaderboard') }}

),

allocated_costs as (

    select * from {{ ref('int_run_costs_allocated_to_datasets') }}

),

-- a result can span several runs (a crashed run's samples are kept and the next run completes the rest)
result_costs as (

    select
        model,
        dataset,
        profile,
        spec_hash,
        sum(samples)::bigint as samples_costed,
        sum(tokens_in + tokens_out)::bigint as tokens,
        sum(gpu_seconds) as gpu_seconds,
        sum(inference_s) as inference_s

    from allocated_costs
    group by model, dataset, profile, spec_hash

),

final as (

    select
        -- ids
        leaderboard.model,
        leaderboard.model_display_name,
        leaderboard.dataset,
        leaderboard.profile,
        leaderboard.variant,
        leaderboard.metric,
        leaderboard.spec_hash,

        -- quality
        leaderboard.value,
        leaderboard.params_b,
        leaderboard.active_params_b,
        leaderboard.value / nullif(leaderboard.active_params_b, 0) as score_per_active_billion_params,

        -- cost
        result_costs.samples_costed,
        result_costs.gpu_seconds,
        result_costs.tokens / nullif(result_costs.inference_s, 0) as tokens_per_second,
        100 * result_costs.gpu_seconds / nullif(result_costs.samples_costed, 0) as gpu_seconds_per_100_samples

    from leaderboard
    left join result_costs
        on leaderboard.model = result_costs.model
        and leaderboard.dataset = result_costs.dataset
        and leaderboard.profile = result_costs.profile
        and leaderboard.spec_hash = result_costs.spec_hash

)

select * from final
